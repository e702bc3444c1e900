"""Cross-check ``catalog/data/models.yaml`` against the shared config copies and a param counter.

Run from the repository root::

    .venv/bin/python scripts/check_model_catalog.py [--hf-configs DIR]

For every catalog entry whose ``config_source`` names a file in the shared ``hf-configs``
folder, the catalog's ``config`` must equal that file, except for keys listed in the entry's
``config_edits`` (with a reason) and the noise keys we drop (``auto_map``, ``id2label``,
``label2id``). Every entry's ``params`` and ``active_params`` are compared with a count made
from its config by the independent counter below (exact for the architectures in the catalog).
Exit code 1 when something disagrees. Not on the import path: a curation aid only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

_DEFAULT_CONFIGS = Path("/work/shared/data/hf-configs")
_CATALOG = Path(__file__).resolve().parents[1] / "src/kubefoundry/catalog/data/models.yaml"
_DROPPED = frozenset({"auto_map", "id2label", "label2id"})
_GEMMA3_TEXT_DEFAULTS = {
    "vocab_size": 262208,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "head_dim": 256,
}


@dataclasses.dataclass(frozen=True)
class Count:
    total: int
    active: int  # per token: no input-embedding lookup, the lm_head counted once


def count_params(config: Mapping[str, Any]) -> Count:
    """Parameters a checkpoint's tensors hold, computed from its ``config.json`` alone."""
    text = dict(config.get("text_config") or config)
    if str(text.get("model_type", "")).startswith("gemma3"):
        text = {**_GEMMA3_TEXT_DEFAULTS, **text}
    tied = bool(text.get("tie_word_embeddings", config.get("tie_word_embeddings", True)))
    hidden, vocab = int(text["hidden_size"]), int(text["vocab_size"])
    layers = int(text["num_hidden_layers"])
    total = active = 0
    for index in range(layers):
        layer_total, layer_active = _layer(text, index)
        total += layer_total
        active += layer_active
    embed = vocab * hidden
    head = 0 if tied else vocab * hidden
    total += embed + head + hidden  # + final norm
    active += (head or embed) + hidden
    vision = _vision(config, hidden)
    return Count(total=total + vision, active=active + vision)


def _layer(c: Mapping[str, Any], index: int) -> tuple[int, int]:
    mt = str(c["model_type"])
    hidden = int(c["hidden_size"])
    norms = (4 if mt.startswith(("gemma2", "gemma3")) else 2) * hidden
    attn = _mla(c) if c.get("kv_lora_rank") else _attention(c, mt)
    experts = c.get("num_local_experts") or c.get("num_experts") or c.get("n_routed_experts")
    dense_layers = int(c.get("first_k_dense_replace") or 0)
    if not experts or index < dense_layers:
        mlp = 3 * hidden * int(c["intermediate_size"])
        return attn + mlp + norms, attn + mlp + norms
    e = int(experts)
    k = int(c.get("num_experts_per_tok") or c.get("experts_per_token") or 0)
    if mt == "gpt_oss":
        width = int(c["intermediate_size"])
        expert = hidden * 2 * width + 2 * width + width * hidden + hidden
        router = hidden * e + e
    else:
        width = int(c.get("moe_intermediate_size") or c["intermediate_size"])
        expert = 3 * hidden * width
        router = hidden * e + (e if c.get("topk_method") == "noaux_tc" else 0)
    shared = int(c.get("n_shared_experts") or 0) * 3 * hidden * width
    fixed = attn + router + shared + norms
    return fixed + e * expert, fixed + k * expert


def _attention(c: Mapping[str, Any], mt: str) -> int:
    hidden, heads = int(c["hidden_size"]), int(c["num_attention_heads"])
    kv_heads = int(c.get("num_key_value_heads") or heads)
    head_dim = int(c.get("head_dim") or hidden // heads)
    q, kv = heads * head_dim, kv_heads * head_dim
    weights = hidden * q + 2 * hidden * kv + q * hidden
    biases = 0
    if c.get("attention_bias"):
        biases = q + 2 * kv + hidden
    elif mt in ("qwen2", "qwen2_moe"):
        biases = q + 2 * kv
    sinks = heads if mt == "gpt_oss" else 0
    qk_norm = 2 * head_dim if mt in ("qwen3", "qwen3_moe", "gemma3_text", "gemma3") else 0
    return weights + biases + sinks + qk_norm


def _mla(c: Mapping[str, Any]) -> int:
    hidden, heads = int(c["hidden_size"]), int(c["num_attention_heads"])
    rank, rope = int(c["kv_lora_rank"]), int(c["qk_rope_head_dim"])
    nope, v_dim = int(c["qk_nope_head_dim"]), int(c["v_head_dim"])
    q_out = heads * (nope + rope)
    q_rank = c.get("q_lora_rank")
    q = hidden * q_out if not q_rank else hidden * int(q_rank) + int(q_rank) + int(q_rank) * q_out
    kv = hidden * (rank + rope) + rank + rank * heads * (nope + v_dim)
    return q + kv + heads * v_dim * hidden


def _vision(config: Mapping[str, Any], text_hidden: int) -> int:
    v = config.get("vision_config")
    if not isinstance(v, Mapping) or v.get("model_type") != "siglip_vision_model":
        return 0
    h, inter = int(v["hidden_size"]), int(v["intermediate_size"])
    patch, image = int(v["patch_size"]), int(v["image_size"])
    positions = (image // patch) ** 2
    embed = 3 * patch * patch * h + h + positions * h
    layer = 4 * (h * h + h) + (h * inter + inter + inter * h + h) + 4 * h
    post_norm = 2 * h
    projector = h * text_hidden + h  # Gemma 3: mm_input_projection + mm_soft_emb_norm
    return embed + int(v["num_hidden_layers"]) * layer + post_norm + projector


def _shared_file(config_source: str) -> str | None:
    match = re.search(r"hf-configs/(\S+?\.json)", config_source)
    return match.group(1) if match else None


def _check_entry(entry: Mapping[str, Any], configs: Path) -> list[str]:
    problems: list[str] = []
    mid = entry["id"]
    counted = count_params(entry["config"])
    params, active = entry.get("params"), entry.get("active_params")
    if params is not None and abs(counted.total - params) > 0.01 * params:
        problems.append(f"{mid}: params {params:,} vs counted {counted.total:,}")
    if active is not None and abs(counted.active - active) > 0.01 * active:
        problems.append(f"{mid}: active_params {active:,} vs counted {counted.active:,}")
    print(f"{mid:55} counted {counted.total:>16,} active {counted.active:>15,} (yaml {params})")
    name = _shared_file(str(entry.get("config_source", "")))
    if name is None:
        return problems
    path = configs / name
    if not path.exists():
        return [*problems, f"{mid}: config_source names {name}, which is not in {configs}"]
    original = {k: v for k, v in json.loads(path.read_text()).items() if k not in _DROPPED}
    edits = set(entry.get("config_edits") or {})
    ours = dict(entry["config"])
    for key in sorted(set(original) | set(ours)):
        if original.get(key) != ours.get(key) and key not in edits:
            problems.append(
                f"{mid}: config[{key!r}] differs from {name} and is not in config_edits"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hf-configs", type=Path, default=_DEFAULT_CONFIGS)
    parser.add_argument("--catalog", type=Path, default=_CATALOG)
    args = parser.parse_args(argv)
    data = yaml.safe_load(args.catalog.read_text(encoding="utf-8"))
    problems: list[str] = []
    for entry in data["models"]:
        problems += _check_entry(entry, args.hf_configs)
    for line in problems:
        print("PROBLEM:", line)
    print(f"{len(data['models'])} models, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
