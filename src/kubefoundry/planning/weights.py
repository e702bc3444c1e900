"""Weight bytes per GPU: parameters counted tensor by tensor, sharded the way vLLM shards them.

Tensor parallelism splits attention heads, MLP and expert widths, the vocabulary of the
embedding and LM head; it replicates norms, routers, MLA's down-projections and — when the
TP size exceeds the KV-head count — the K/V projections. Pipeline parallelism gives each
stage a contiguous run of layers; the first stage also holds the embedding, the last the LM
head. Quantized linear layers cost their packed bits plus scales; embeddings, LM head and
norms stay in the activation dtype.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

from kubefoundry.catalog.architecture import ModelArch, Quantization

VOCAB_PADDING = 64  # vLLM pads the vocabulary to a multiple of this before sharding
MXFP4_PAD = 256  # vLLM pads MXFP4 expert widths to this multiple for its MoE kernels

DTYPE_BYTES = {
    "fp32": 4.0,
    "float32": 4.0,
    "bf16": 2.0,
    "bfloat16": 2.0,
    "fp16": 2.0,
    "float16": 2.0,
    "half": 2.0,
}


@dataclasses.dataclass(frozen=True)
class LinearFormat:
    """Bytes per weight of a quantized (or not) linear layer, scales included."""

    name: str
    bytes_per_weight: float

    @staticmethod
    def of(quant: Quantization | None, dtype_bytes: float) -> LinearFormat:
        if quant is None:
            return LinearFormat("unquantized", dtype_bytes)
        method, group = quant.method, quant.group_size or 128
        if method in ("fp8", "w8a8", "int8"):
            return LinearFormat(method, 1.0)
        if method in ("awq", "gptq"):
            # packed int4 + one fp16 scale and one 4-bit zero point per group
            return LinearFormat(method, quant.bits / 8 + 2.5 / group)
        if method in ("w4a16", "compressed-tensors"):
            return LinearFormat(method, quant.bits / 8 + 2.0 / group)  # symmetric: scale only
        if method == "mxfp4":
            return LinearFormat(method, 0.5 + 1.0 / 32)  # e2m1 + one e8m0 scale per 32
        if method == "bitsandbytes":
            return LinearFormat(method, quant.bits / 8 + 4.0 / 64)
        return LinearFormat(method, quant.bits / 8)


@dataclasses.dataclass(frozen=True)
class StageWeights:
    """What one GPU of one pipeline stage holds, in bytes."""

    layers: int
    embedding: float
    lm_head: float
    layer_bytes: float
    other: float  # norms, rotary caches, vision tower

    @property
    def total(self) -> float:
        return self.embedding + self.lm_head + self.layer_bytes + self.other


@functools.lru_cache(maxsize=256)
def parameter_count(arch: ModelArch) -> int:
    """Total parameters, the way a checkpoint counts them (all experts, one copy of each).

    Remembered per architecture (a frozen value): every option the planner sizes asks for it,
    and summing a large model layer by layer costs more than the rest of the option.
    """
    counts = _layer_params(arch, tp=1)
    per_layer = sum(counts.attention) + counts.attention_bias + sum(counts.norms)
    layers = per_layer * arch.num_layers
    layers += sum(sum(_mlp_params(arch, layer, tp=1)) for layer in range(arch.num_layers))
    embed = arch.vocab_size * arch.hidden_size
    head = 0 if arch.tie_word_embeddings else embed
    return int(layers + embed + head + arch.hidden_size + _vision_params(arch))


def stage_layers(num_layers: int, pp: int) -> list[range]:
    """vLLM's split: equal runs, the remainder going to the last stages."""
    base, extra = divmod(num_layers, pp)
    sizes = [base + (1 if i >= pp - extra else 0) for i in range(pp)]
    starts = [sum(sizes[:i]) for i in range(pp)]
    return [range(s, s + n) for s, n in zip(starts, sizes, strict=True)]


def per_gpu(
    arch: ModelArch, *, tp: int, pp: int, dtype: str, quantization: Quantization | None
) -> list[StageWeights]:
    """Weights held by one GPU of each pipeline stage (first stage first)."""
    act = DTYPE_BYTES[dtype]
    linear = LinearFormat.of(quantization, act)
    # MXFP4 checkpoints quantize the experts only; attention and dense MLPs stay in bf16.
    dense_linear = LinearFormat("unquantized", act) if linear.name == "mxfp4" else linear
    vocab = math.ceil(arch.vocab_size / VOCAB_PADDING) * VOCAB_PADDING
    shard_vocab = math.ceil(vocab / tp)
    counts = _layer_params(arch, tp=tp)
    rope = _rope_cache_elements(arch) * act
    stages: list[StageWeights] = []
    for index, layers in enumerate(stage_layers(arch.num_layers, pp)):
        first, last = index == 0, index == pp - 1
        body = 0.0
        for layer in layers:
            dense, experts = _mlp_params(arch, layer, tp=tp)
            body += sum(counts.attention) * dense_linear.bytes_per_weight
            body += counts.attention_bias * act
            body += dense * dense_linear.bytes_per_weight
            body += experts * _expert_bytes_per_weight(arch, linear, act, tp=tp)
            body += sum(counts.norms) * act
        embed = shard_vocab * arch.hidden_size * act if first else 0.0
        head = 0.0
        if last and (not arch.tie_word_embeddings or pp > 1):
            head = shard_vocab * arch.hidden_size * act
        other = rope + (arch.hidden_size * act if last else 0.0)
        if first:
            other += _vision_params(arch) / tp * act
        stages.append(StageWeights(len(layers), embed, head, body, other))
    return stages


@dataclasses.dataclass(frozen=True)
class _LayerCounts:
    attention: Sequence[float]  # weights of linear layers, per GPU
    attention_bias: float
    norms: Sequence[float]


def _layer_params(arch: ModelArch, *, tp: int) -> _LayerCounts:
    h = arch.hidden_size
    norm_width = 2 if arch.layer_norm_bias else 1
    norms = [arch.norms_per_layer * h * norm_width]
    if arch.qk_norm:
        norms.append(2 * arch.head_dim)
    if arch.mla is not None:
        m = arch.mla
        qk = m.qk_nope_head_dim + m.qk_rope_head_dim
        heads = arch.num_attention_heads / tp
        if m.q_lora_rank:
            q = h * m.q_lora_rank + m.q_lora_rank * heads * qk
            norms.append(m.q_lora_rank)
        else:
            q = h * heads * qk
        kv_a = h * (m.kv_lora_rank + m.qk_rope_head_dim)
        kv_b = m.kv_lora_rank * heads * (m.qk_nope_head_dim + m.v_head_dim)
        norms.append(m.kv_lora_rank)
        return _LayerCounts([q, kv_a, kv_b, heads * m.v_head_dim * h], 0.0, norms)
    q_width = arch.num_attention_heads * arch.head_dim / tp
    kv_width = max(1.0, arch.num_kv_heads / tp) * arch.head_dim
    bias = (q_width + 2 * kv_width) if arch.qkv_bias else 0.0
    bias += h if arch.out_bias else 0.0
    return _LayerCounts([h * q_width, 2 * h * kv_width, q_width * h], bias, norms)


def _mlp_params(arch: ModelArch, layer: int, *, tp: int) -> tuple[float, float]:
    """(dense linear weights, expert weights) of one layer's MLP on one GPU."""
    h = arch.hidden_size
    matrices = 3 if arch.gated_mlp else 2
    moe = arch.moe
    if moe is None or layer < moe.first_dense_layers:
        width = (
            moe.dense_intermediate_size
            if moe and moe.dense_intermediate_size
            else (arch.intermediate_size)
        )
        bias = (width / tp + h) if arch.mlp_bias else 0.0
        return matrices * h * width / tp + bias, 0.0
    experts = moe.num_experts * matrices * h * moe.expert_intermediate_size / tp
    dense = float(h * moe.num_experts)  # router, replicated
    dense += matrices * h * moe.shared_intermediate_size / tp
    if moe.gated_shared_expert:
        dense += h
    return dense, experts


def _expert_bytes_per_weight(
    arch: ModelArch, linear: LinearFormat, act: float, *, tp: int
) -> float:
    if linear.name != "mxfp4" or arch.moe is None:
        return linear.bytes_per_weight
    width = arch.moe.expert_intermediate_size / tp
    padded = math.ceil(width / MXFP4_PAD) * MXFP4_PAD
    return linear.bytes_per_weight * padded / width


def _rope_cache_elements(arch: ModelArch) -> float:
    """cos/sin table: one row of ``rotary_dim`` values per position (two tables for Gemma 3)."""
    tables = 2 if arch.model_type.startswith("gemma3") else 1
    return tables * arch.max_position_embeddings * arch.rotary_dim


def _vision_params(arch: ModelArch) -> float:
    v = arch.vision
    if v is None:
        return 0.0
    per_layer = 4 * v.hidden_size**2 + 2 * v.hidden_size * v.intermediate_size
    per_layer += 9 * v.hidden_size + v.intermediate_size  # biases and the two LayerNorms
    patches = (v.image_size // v.patch_size) ** 2
    embed = v.num_channels * v.patch_size**2 * v.hidden_size + patches * v.hidden_size
    projector = v.hidden_size * arch.hidden_size
    return float(v.num_layers * per_layer + embed + projector)
