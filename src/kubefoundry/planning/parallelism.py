"""Which tensor- and pipeline-parallel sizes an engine accepts for a model, and why not.

vLLM's rules: attention heads must split evenly across TP ranks; KV heads must split evenly
or be replicated whole (TP a multiple of the KV-head count); the vocabulary is padded to a
multiple of 64 and then split, so it never blocks a size; quantized linear layers need each
rank's share of the MLP width to be a whole number of quantization groups (128-wide blocks
for block-FP8, the group size for AWQ/GPTQ/W4A16). Pipeline stages need a layer each.
"""

from __future__ import annotations

from kubefoundry.catalog.architecture import ModelArch, Quantization

TP_SIZES = (1, 2, 4, 8, 16)


def tp_problems(arch: ModelArch, tp: int, quantization: Quantization | None = None) -> list[str]:
    """Reasons ``tp`` is not allowed for this model; empty when it is."""
    problems: list[str] = []
    heads = arch.num_attention_heads
    if heads % tp:
        problems.append(f"{heads} attention heads do not split evenly over {tp} GPUs")
    kv = arch.num_kv_heads
    if arch.mla is None and kv % tp and tp % kv:
        problems.append(f"{kv} KV heads can be neither split over nor replicated across {tp} GPUs")
    quant = quantization or arch.quantization
    group = _group_width(quant)
    if group:
        for name, width in _mlp_widths(arch):
            share = width / tp
            if share != int(share) or int(share) % group:
                problems.append(
                    f"{name} width {width} gives each of {tp} GPUs {share:g} columns, "
                    f"not a multiple of the {quant.method if quant else ''} group of {group}"
                )
    return problems


def pp_problems(arch: ModelArch, pp: int) -> list[str]:
    if pp > arch.num_layers:
        return [f"{pp} pipeline stages but only {arch.num_layers} layers"]
    return []


def valid_tp_sizes(
    arch: ModelArch, *, quantization: Quantization | None = None, limit: int = 16
) -> list[int]:
    return [tp for tp in TP_SIZES if tp <= limit and not tp_problems(arch, tp, quantization)]


def _group_width(quant: Quantization | None) -> int:
    if quant is None:
        return 0
    if quant.method in ("awq", "gptq", "w4a16"):
        return quant.group_size or 128
    if quant.method == "fp8" and quant.group_size:  # block-wise FP8 (DeepSeek, Qwen3 FP8)
        return quant.group_size
    return 0


def _mlp_widths(arch: ModelArch) -> list[tuple[str, int]]:
    if arch.moe is not None:
        return [("expert MLP", arch.moe.expert_intermediate_size)]
    return [("MLP", arch.intermediate_size)]
