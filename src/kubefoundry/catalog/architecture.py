"""A model's architecture as the memory model needs it, parsed from a Hugging Face ``config.json``.

One parser serves the curated catalog, any Hugging Face id and ``--config FILE``: the catalog
stores each model's config fields, so a catalog model and a downloaded one go through the same
code. Only facts are kept here; what they cost in bytes is ``planning.memory``'s business.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from kubefoundry.core.errors import InvalidInputError

AttentionKind = Literal["mha", "gqa", "mqa", "mla"]
LayerKind = Literal["full", "sliding"]

# Architectures whose configs nest the language model under ``text_config``.
_TEXT_CONFIG_KEYS = ("text_config", "llm_config", "language_config")

# Gemma 3 configs leave these out and rely on Gemma3TextConfig defaults (transformers).
_GEMMA3_DEFAULTS: Mapping[str, Any] = {
    "vocab_size": 262208,
    "max_position_embeddings": 131072,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "head_dim": 256,
    "sliding_window": 4096,
    "sliding_window_pattern": 6,
    "hidden_size": 2304,
    "intermediate_size": 9216,
    "num_hidden_layers": 26,
}


@dataclasses.dataclass(frozen=True)
class MoE:
    """Mixture-of-experts layout. Every expert's weights are resident, not only the active ones."""

    num_experts: int
    experts_per_token: int
    expert_intermediate_size: int
    shared_experts: int = 0
    shared_intermediate_size: int = 0  # total width of the shared expert(s)
    first_dense_layers: int = 0  # DeepSeek's first_k_dense_replace
    dense_intermediate_size: int = 0  # width of the dense MLP in non-MoE layers
    gated_shared_expert: bool = False  # Qwen2-MoE's sigmoid gate on the shared expert


@dataclasses.dataclass(frozen=True)
class MLA:
    """DeepSeek multi-head latent attention: the cache holds one compressed latent per token."""

    kv_lora_rank: int
    qk_rope_head_dim: int
    qk_nope_head_dim: int
    v_head_dim: int
    q_lora_rank: int | None


@dataclasses.dataclass(frozen=True)
class Quantization:
    """Quantization a checkpoint ships with (``quantization_config``)."""

    method: str  # fp8, mxfp4, awq, gptq, compressed-tensors, bitsandbytes
    bits: int
    group_size: int | None = None


@dataclasses.dataclass(frozen=True)
class Vision:
    """A ViT-style vision tower loaded with the language model (multimodal checkpoints)."""

    hidden_size: int
    intermediate_size: int
    num_layers: int
    patch_size: int
    image_size: int
    num_channels: int = 3


@dataclasses.dataclass(frozen=True)
class ModelArch:
    model_type: str
    hidden_size: int
    num_layers: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    tie_word_embeddings: bool
    torch_dtype: str
    layer_kinds: tuple[LayerKind, ...]
    sliding_window: int | None = None
    rotary_dim: int = 0
    qkv_bias: bool = False
    out_bias: bool = False
    mlp_bias: bool = False
    gated_mlp: bool = True
    layer_norm_bias: bool = False  # LayerNorm (weight + bias) instead of RMSNorm
    qk_norm: bool = False
    norms_per_layer: int = 2
    moe: MoE | None = None
    mla: MLA | None = None
    quantization: Quantization | None = None
    vision: Vision | None = None
    architectures: tuple[str, ...] = ()

    @property
    def attention(self) -> AttentionKind:
        if self.mla is not None:
            return "mla"
        if self.num_kv_heads == 1 and self.num_attention_heads > 1:
            return "mqa"
        if self.num_kv_heads < self.num_attention_heads:
            return "gqa"
        return "mha"

    @property
    def has_sliding_window(self) -> bool:
        return "sliding" in self.layer_kinds

    @property
    def is_hybrid(self) -> bool:
        """Both full and sliding-window layers: vLLM groups them in its hybrid KV manager."""
        return len(set(self.layer_kinds)) > 1

    @property
    def attention_family(self) -> str:
        """Label used in reports: dense MHA/GQA/MQA, MLA, sliding/hybrid, with MoE noted."""
        if self.mla is not None:
            base = "mla"
        elif self.is_hybrid:
            base = "hybrid-sliding"
        elif self.has_sliding_window:
            base = "sliding"
        else:
            base = self.attention
        return f"moe+{base}" if self.moe is not None else base


def from_hf_config(config: Mapping[str, Any]) -> ModelArch:
    """Parse a ``config.json`` mapping. Raises :class:`InvalidInputError` naming missing fields."""
    top = dict(config)
    text = _text_config(top)
    try:
        return _parse(top, text)
    except KeyError as exc:
        raise InvalidInputError(
            f"config.json lacks the field {exc.args[0]!r} the memory model needs "
            f"(model_type={text.get('model_type') or top.get('model_type')!r}).",
            hint="Pass the model's own config.json (from its Hugging Face repository).",
        ) from None


def _text_config(top: Mapping[str, Any]) -> dict[str, Any]:
    for key in _TEXT_CONFIG_KEYS:
        nested = top.get(key)
        if isinstance(nested, Mapping):
            merged = dict(nested)
            merged.setdefault("torch_dtype", top.get("torch_dtype"))
            merged.setdefault("tie_word_embeddings", top.get("tie_word_embeddings", True))
            if "quantization_config" in top:
                merged.setdefault("quantization_config", top["quantization_config"])
            if str(merged.get("model_type", "")).startswith("gemma3"):
                for k, v in _GEMMA3_DEFAULTS.items():
                    merged.setdefault(k, v)
            return merged
    return dict(top)


def _first(cfg: Mapping[str, Any], *keys: str, default: Any = None) -> Any:
    for k in keys:
        if cfg.get(k) is not None:
            return cfg[k]
    if default is None:
        raise KeyError(keys[0])
    return default


def _parse(top: Mapping[str, Any], c: dict[str, Any]) -> ModelArch:
    model_type = str(c.get("model_type") or top.get("model_type") or "unknown")
    hidden = int(_first(c, "hidden_size", "n_embd", "d_model"))
    layers = int(_first(c, "num_hidden_layers", "n_layer", "num_layers"))
    heads = int(_first(c, "num_attention_heads", "n_head"))
    kv_heads = _kv_heads(c, heads)
    head_dim = int(c.get("head_dim") or hidden // heads)
    mla = _mla(c)
    moe = _moe(c, model_type)
    intermediate = int(_first(c, "intermediate_size", "ffn_dim", "n_inner", default=4 * hidden))
    kinds, window = _layer_kinds(c, model_type, layers)
    partial = float(c.get("partial_rotary_factor", 1.0))
    rotary = mla.qk_rope_head_dim if mla else int(head_dim * partial)
    is_phi2 = model_type == "phi"
    is_falcon = model_type == "falcon"
    return ModelArch(
        model_type=model_type,
        hidden_size=hidden,
        num_layers=layers,
        num_attention_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        intermediate_size=intermediate,
        vocab_size=int(_first(c, "vocab_size", "padded_vocab_size")),
        max_position_embeddings=int(
            _first(c, "max_position_embeddings", "n_positions", "seq_length", default=2048)
        ),
        tie_word_embeddings=bool(c.get("tie_word_embeddings", True)),
        torch_dtype=str(c.get("torch_dtype") or c.get("dtype") or "bfloat16"),
        layer_kinds=kinds,
        sliding_window=window,
        rotary_dim=rotary,
        qkv_bias=bool(
            c.get("attention_bias")
            or model_type in ("qwen2", "qwen2_moe")
            or is_phi2
            or (is_falcon and bool(c.get("bias")))
        ),
        out_bias=bool(c.get("attention_bias")) or is_phi2,
        mlp_bias=bool(c.get("mlp_bias")) or is_phi2,
        gated_mlp=not (is_phi2 or is_falcon),
        layer_norm_bias=is_phi2 or is_falcon,
        qk_norm=model_type in ("qwen3", "qwen3_moe", "gemma3_text", "gemma3", "olmo2"),
        norms_per_layer=4 if model_type.startswith(("gemma2", "gemma3")) else (1 if is_phi2 else 2),
        moe=moe,
        mla=mla,
        quantization=_quantization(c),
        vision=_vision(top),
        architectures=tuple(top.get("architectures") or ()),
    )


def _kv_heads(c: Mapping[str, Any], heads: int) -> int:
    if c.get("num_key_value_heads") is not None:
        return int(c["num_key_value_heads"])
    if c.get("multi_query") or c.get("multi_query_attention"):
        return 1
    if c.get("num_kv_heads") is not None:
        return int(c["num_kv_heads"])
    return heads


def _mla(c: Mapping[str, Any]) -> MLA | None:
    if c.get("kv_lora_rank") is None:
        return None
    q_rank = c.get("q_lora_rank")
    return MLA(
        kv_lora_rank=int(c["kv_lora_rank"]),
        qk_rope_head_dim=int(c["qk_rope_head_dim"]),
        qk_nope_head_dim=int(c["qk_nope_head_dim"]),
        v_head_dim=int(c["v_head_dim"]),
        q_lora_rank=int(q_rank) if q_rank is not None else None,
    )


def _moe(c: Mapping[str, Any], model_type: str) -> MoE | None:
    experts = c.get("num_local_experts") or c.get("num_experts") or c.get("n_routed_experts")
    if not experts:
        return None
    inter = int(c.get("moe_intermediate_size") or c["intermediate_size"])
    shared = int(c.get("n_shared_experts") or 0)
    shared_inter = 0
    if shared:
        shared_inter = shared * inter
    elif c.get("shared_expert_intermediate_size"):
        shared, shared_inter = 1, int(c["shared_expert_intermediate_size"])
    dense_layers = int(c.get("first_k_dense_replace") or 0)
    return MoE(
        num_experts=int(experts),
        experts_per_token=int(
            _first(c, "num_experts_per_tok", "experts_per_token", "num_experts_per_token")
        ),
        expert_intermediate_size=inter,
        shared_experts=shared,
        shared_intermediate_size=shared_inter,
        first_dense_layers=dense_layers,
        dense_intermediate_size=int(c.get("intermediate_size") or 0) if dense_layers else 0,
        gated_shared_expert=model_type == "qwen2_moe",
    )


def _layer_kinds(
    c: Mapping[str, Any], model_type: str, layers: int
) -> tuple[tuple[LayerKind, ...], int | None]:
    window = c.get("sliding_window")
    if c.get("use_sliding_window") is False or not window:
        window = None
    declared = c.get("layer_types")
    if isinstance(declared, list) and len(declared) == layers:
        kinds = tuple("sliding" if "sliding" in str(t) else "full" for t in declared)
        return _kinds(kinds), (int(window) if window and "sliding" in kinds else None)
    if window is None:
        return tuple("full" for _ in range(layers)), None
    if model_type.startswith("gemma2"):
        return _kinds(tuple("sliding" if i % 2 == 0 else "full" for i in range(layers))), int(
            window
        )
    if model_type.startswith("gemma3"):
        pattern = int(c.get("sliding_window_pattern") or 6)
        kinds = tuple("full" if (i + 1) % pattern == 0 else "sliding" for i in range(layers))
        return _kinds(kinds), int(window)
    if model_type in ("qwen2", "qwen2_moe", "qwen3", "qwen3_moe") and c.get("max_window_layers"):
        top = int(c["max_window_layers"])
        kinds = tuple("sliding" if i >= top else "full" for i in range(layers))
        return _kinds(kinds), (int(window) if "sliding" in kinds else None)
    return tuple("sliding" for _ in range(layers)), int(window)


def _kinds(kinds: tuple[str, ...]) -> tuple[LayerKind, ...]:
    return tuple("sliding" if k == "sliding" else "full" for k in kinds)


def _quantization(c: Mapping[str, Any]) -> Quantization | None:
    q = c.get("quantization_config")
    if not isinstance(q, Mapping):
        return None
    method = str(q.get("quant_method") or q.get("quantization_method") or "unknown").lower()
    if method == "mxfp4":
        return Quantization(method="mxfp4", bits=4, group_size=32)
    if method == "fp8":
        block = q.get("weight_block_size")
        return Quantization(method="fp8", bits=8, group_size=int(block[-1]) if block else None)
    if method in ("awq", "gptq"):
        return Quantization(
            method=method,
            bits=int(q.get("bits") or q.get("w_bit") or 4),
            group_size=int(q.get("group_size") or q.get("q_group_size") or 128),
        )
    if method == "compressed-tensors":
        return _compressed_tensors(q)
    if method == "bitsandbytes":
        return Quantization(method="bitsandbytes", bits=4 if q.get("load_in_4bit") else 8)
    return Quantization(method=method, bits=int(q.get("bits") or 8))


def _compressed_tensors(q: Mapping[str, Any]) -> Quantization:
    groups = q.get("config_groups") or {}
    for group in groups.values() if isinstance(groups, Mapping) else ():
        weights = group.get("weights") or {}
        bits = int(weights.get("num_bits") or 8)
        kind = str(weights.get("type") or "int")
        if bits == 8 and kind == "float":
            return Quantization(method="fp8", bits=8)
        if bits == 8:
            return Quantization(method="w8a8", bits=8)
        return Quantization(method="w4a16", bits=bits, group_size=weights.get("group_size") or 128)
    return Quantization(method="fp8", bits=8)


def _vision(top: Mapping[str, Any]) -> Vision | None:
    v = top.get("vision_config")
    if not isinstance(v, Mapping) or not v.get("hidden_size"):
        return None
    try:
        return Vision(
            hidden_size=int(v["hidden_size"]),
            intermediate_size=int(v.get("intermediate_size") or 4 * int(v["hidden_size"])),
            num_layers=int(v.get("num_hidden_layers") or v.get("depth") or 0),
            patch_size=int(v.get("patch_size") or 14),
            image_size=int(v.get("image_size") or 224),
            num_channels=int(v.get("num_channels") or 3),
        )
    except (TypeError, ValueError):
        return None
