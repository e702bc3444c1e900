"""Predicted speed of one replica from rooflines, with the efficiency factors stated.

Decode is memory-bound: every step reads each GPU's weight shard (only the active experts of
an MoE) plus the KV cache of the batch, at the GPU's bandwidth times ``BANDWIDTH_EFFICIENCY``.
Prefill is compute-bound: 2 FLOPs per active parameter per prompt token at the dense peak
times ``COMPUTE_EFFICIENCY``. Tensor-parallel ranks work in parallel; pipeline stages
serialise one token's pass through the stages. These are first-order estimates for ranking
options and sizing; the figures a deployment really reaches come from its own metrics.
"""

from __future__ import annotations

import dataclasses

from kubefoundry.catalog.architecture import ModelArch
from kubefoundry.planning import weights

BANDWIDTH_EFFICIENCY = 0.75  # share of peak HBM bandwidth decode kernels sustain
COMPUTE_EFFICIENCY = 0.45  # model FLOPs utilisation of prefill
TP_STEP_OVERHEAD_S = 30e-6  # all-reduce latency per layer pair, per decode step, TP > 1
PROMPT_TOKENS = 1024  # prompt length used for the time-to-first-token figure


@dataclasses.dataclass(frozen=True)
class Speed:
    decode_tokens_per_s_single: float  # one request alone
    decode_tokens_per_s_batch: float  # aggregate at ``batch`` concurrent requests
    batch: int
    ttft_s: float  # for a PROMPT_TOKENS prompt, replica idle
    assumptions: str


def active_parameters(arch: ModelArch) -> float:
    """Parameters one token touches (all of a dense model; routed + shared for MoE)."""
    total = float(weights.parameter_count(arch))
    moe = arch.moe
    if moe is None:
        return total
    matrices = 3 if arch.gated_mlp else 2
    moe_layers = arch.num_layers - moe.first_dense_layers
    idle = (moe.num_experts - moe.experts_per_token) * matrices * arch.hidden_size
    return total - idle * moe.expert_intermediate_size * moe_layers


def predict(
    arch: ModelArch,
    *,
    weight_bytes_per_gpu: float,
    kv_bytes_per_token_per_gpu: float,
    context: int,
    batch: int,
    tp: int,
    pp: int,
    bandwidth_gbps: float,
    dense_tflops: float,
) -> Speed:
    active_share = active_parameters(arch) / max(1.0, float(weights.parameter_count(arch)))
    bandwidth = bandwidth_gbps * 1e9 * BANDWIDTH_EFFICIENCY
    overhead = TP_STEP_OVERHEAD_S * arch.num_layers * 2 / pp if tp > 1 else 0.0

    def step_seconds(n: int) -> float:
        # MoE: at batch n, more distinct experts are touched; bounded by all of them.
        share = min(1.0, active_share * n) if arch.moe else 1.0
        read = weight_bytes_per_gpu * share + n * (context / 2) * kv_bytes_per_token_per_gpu
        compute = (
            2 * active_parameters(arch) / (tp * pp) * n / (dense_tflops * 1e12 * COMPUTE_EFFICIENCY)
        )
        return pp * (max(read / bandwidth, compute) + overhead)

    single = 1.0 / step_seconds(1)
    aggregate = batch / step_seconds(batch)
    prefill_flops = 2 * active_parameters(arch) * PROMPT_TOKENS
    ttft = prefill_flops / (dense_tflops * 1e12 * COMPUTE_EFFICIENCY * tp) + step_seconds(1)
    return Speed(
        decode_tokens_per_s_single=round(single, 1),
        decode_tokens_per_s_batch=round(aggregate, 1),
        batch=batch,
        ttft_s=round(ttft, 3),
        assumptions=(
            f"bandwidth efficiency {BANDWIDTH_EFFICIENCY:.0%}, prefill MFU "
            f"{COMPUTE_EFFICIENCY:.0%}, {PROMPT_TOKENS}-token prompt, KV read at half context"
        ),
    )


def usd_per_million_tokens(
    *, usd_per_hour: float, tokens_per_s: float, utilisation: float
) -> float | None:
    """Cost of a million output tokens when the replica is busy ``utilisation`` of the hour."""
    if tokens_per_s <= 0 or utilisation <= 0:
        return None
    return round(usd_per_hour / (tokens_per_s * 3600 * utilisation) * 1e6, 3)
