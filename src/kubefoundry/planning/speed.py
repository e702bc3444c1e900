"""How fast one vLLM replica serves a workload, built from mechanisms with their constants.

One engine step runs every request in decode (one token each) plus the prompt tokens of newly
admitted requests (chunked prefill, up to ``max_num_batched_tokens``). A step costs the larger
of its memory traffic (the weight shard, only the experts the batch touches for MoE, plus the
KV cache read at each request's real context) and its compute (2 FLOPs per active parameter
per token plus attention), plus the engine's own per-step work and the tensor-parallel
all-reduces; pipeline stages run micro-batches in turn and lose a bubble. The API server
streams every token and takes in every request; from V1 it overlaps the engine and only paces
it when slower. A closed loop of N clients (``at_concurrency``) is the fixed point of
"throughput = N / request latency"; a request rate (``at_rate``) is the N where that
throughput equals the rate (Little's law) plus the Poisson queueing wait; ``at_max`` is as
many requests as the engine admits, and a finite burst is replayed step by step. Constants
are global and few, stated with their reasoning in ``docs/speed-model.md``; no GPU, model or
benchmark row has its own.
"""

from __future__ import annotations

import dataclasses
import math

from kubefoundry.catalog.architecture import ModelArch
from kubefoundry.catalog.gpus import GPU
from kubefoundry.planning import engine_profiles, memory, performance, weights

BANDWIDTH_EFFICIENCY = 0.85  # share of peak HBM bandwidth dense decode GEMVs sustain
MOE_BANDWIDTH_EFFICIENCY = 0.4  # fused-MoE kernels read an expert serving one token at this
MOE_FULL_TOKENS = 16  # tokens per expert from which it streams at the dense efficiency
PREFILL_MFU = 0.55  # model FLOPs utilisation of prompt processing (large GEMMs)
MOE_MFU = 0.25  # grouped expert GEMMs: a few hundred rows each, routing gather/scatter
DECODE_MFU = 0.45  # FLOPs utilisation once a decode batch is compute-bound (smaller GEMMs)
STEP_OVERHEAD_S = 1.0e-3  # scheduler, sampler, CUDA-graph launch per engine step (V1 engine)
PER_SEQ_OVERHEAD_S = 20e-6  # per running request per step: scheduling, input and sampler rows
V0_OVERHEAD_FACTOR = 2.0  # the pre-0.8 engine did its scheduling on the critical path
FRONTEND_REQUEST_S = 4e-3  # API server: HTTP, validation, chat template, tokenising a request
FRONTEND_ARRIVAL_SHARE = 0.4  # of FRONTEND_REQUEST_S, run before a request's first await
FRONTEND_TOKEN_S = 100e-6  # API server: detokenise one token and stream it as an SSE chunk
REQUEST_OVERHEAD_S = 0.035  # HTTP, chat template, tokenising, first token out: added to TTFT
NVLINK_EFFICIENCY = 0.6  # share of one direction of NVLink bandwidth an all-reduce reaches
NVLINK_LATENCY_S = 8e-6  # one small all-reduce over NVLink (vLLM's custom all-reduce)
PCIE_GBPS = 20.0  # one direction of PCIe Gen4/5 x16 as NCCL reaches it between GPUs
PCIE_LATENCY_S = 30e-6  # one small all-reduce over PCIe through the host bridge
PP_EFFICIENCY = 0.8  # throughput share a pipeline keeps after bubbles and stage imbalance
PP_HOP_S = 50e-6  # one activation hand-off between pipeline stages
LENGTH_CV = 1.0  # spread of request lengths around the mean (exponential-like, as in chat)


@dataclasses.dataclass(frozen=True)
class Workload:
    input_tokens: float  # mean prompt length
    output_tokens: float  # mean generated length


@dataclasses.dataclass(frozen=True)
class Replica:
    """What the mechanisms need about one replica, derived once from the memory model."""

    arch: ModelArch
    gpu: GPU
    inputs: memory.MemoryInputs
    memory: memory.MemoryEstimate
    dense_bytes: float  # per GPU of the largest stage, read every step (no embedding table)
    expert_bytes: float  # per GPU of that stage, all experts
    kv_bytes_per_token: float  # per GPU of that stage
    compute_tflops: float  # peak dense TFLOPS in the dtype the matmuls run in
    v1_engine: bool


@dataclasses.dataclass(frozen=True)
class Speed:
    output_tokens_per_s: float  # aggregate, whole replica
    requests_per_s: float
    ttft_s: float  # mean
    tpot_s: float  # mean time per output token after the first
    concurrency: float  # mean requests in flight
    saturated: bool  # the asked load is beyond what the replica serves


def replica(arch: ModelArch, gpu: GPU, inputs: memory.MemoryInputs) -> Replica:
    est = memory.estimate(arch, inputs)
    stages = weights.per_gpu(
        arch, tp=inputs.tp, pp=inputs.pp, dtype=inputs.dtype, quantization=inputs.quantization
    )
    read = max(s.total - s.embedding for s in stages)
    expert = max(read - _dense_bytes_per_gpu(arch, inputs), 0.0) if arch.moe else 0.0
    return Replica(
        arch=arch,
        gpu=gpu,
        inputs=inputs,
        memory=est,
        dense_bytes=max(read - expert, 0.0),
        expert_bytes=expert,
        kv_bytes_per_token=est.kv_bytes_per_token,
        compute_tflops=compute_tflops(gpu, inputs),
        v1_engine=engine_profiles.profile_for(inputs.vllm_version).v1_engine,
    )


def compute_tflops(gpu: GPU, inputs: memory.MemoryInputs) -> float:
    """FP8 checkpoints compute in FP8 only where the GPU has it; weight-only formats in 16-bit."""
    quant = inputs.quantization
    if quant is not None and quant.method in ("fp8", "w8a8") and gpu.fp8_supported:
        return gpu.dense_tflops("fp8") or 0.0
    return gpu.dense_tflops("fp16" if inputs.dtype == "fp16" else "bf16") or 1.0


def experts_touched_share(arch: ModelArch, tokens: float) -> float:
    """Expected share of a layer's experts that ``tokens`` tokens route to (uniform routing)."""
    moe = arch.moe
    if moe is None:
        return 1.0
    idle = 1.0 - moe.experts_per_token / moe.num_experts
    return 1.0 - float(idle ** max(tokens, 1.0))


def weight_read_s(r: Replica, tokens: float) -> float:
    """The weight shard read once per step; for MoE only the experts the tokens touch.

    Fused-MoE kernels stream an expert at ``MOE_BANDWIDTH_EFFICIENCY`` when it serves one
    token, rising to the dense efficiency once it serves ``MOE_FULL_TOKENS`` (a GEMM tile).
    """
    bandwidth = r.gpu.memory_bandwidth_gbps * 1e9
    dense = r.dense_bytes / (bandwidth * BANDWIDTH_EFFICIENCY)
    moe = r.arch.moe
    if moe is None:
        return dense
    share = experts_touched_share(r.arch, tokens)
    per_expert = max(tokens, 1.0) * moe.experts_per_token / (moe.num_experts * share)
    fill = min(1.0, (per_expert - 1) / (MOE_FULL_TOKENS - 1))
    efficiency = MOE_BANDWIDTH_EFFICIENCY + (BANDWIDTH_EFFICIENCY - MOE_BANDWIDTH_EFFICIENCY) * fill
    return dense + r.expert_bytes * share / (bandwidth * efficiency)


def kv_read_s(r: Replica, *, requests: float, context: float) -> float:
    """Decode reads every running request's KV cache once per step."""
    traffic = requests * context * r.kv_bytes_per_token
    return traffic / (r.gpu.memory_bandwidth_gbps * 1e9 * BANDWIDTH_EFFICIENCY)


def flops_per_token(arch: ModelArch, context: float) -> float:
    """2 × active parameters plus attention (QKᵀ and AV over ``context`` keys)."""
    attention = 4.0 * arch.num_layers * arch.num_attention_heads * arch.head_dim * context
    return 2.0 * performance.active_parameters(arch) + attention


def routed_parameters(arch: ModelArch) -> float:
    """Active parameters of the routed experts (one token's share; 0 for a dense model)."""
    moe = arch.moe
    if moe is None:
        return 0.0
    matrices = 3 if arch.gated_mlp else 2
    layers = arch.num_layers - moe.first_dense_layers
    return float(layers * moe.experts_per_token * matrices * arch.hidden_size) * (
        moe.expert_intermediate_size
    )


def compute_s(r: Replica, *, tokens: float, context: float, mfu: float) -> float:
    """Matmul time; the routed experts' FLOPs run at ``MOE_MFU`` (grouped GEMMs)."""
    peak = r.inputs.tp * r.inputs.pp * r.compute_tflops * 1e12
    routed = 2.0 * routed_parameters(r.arch)
    dense = flops_per_token(r.arch, context) - routed
    return tokens * (dense / mfu + routed / min(mfu, MOE_MFU)) / peak


def all_reduce_s(r: Replica, tokens: float) -> float:
    """Two all-reduces per layer of the stage (attention out, MLP out) when TP > 1."""
    tp = r.inputs.tp
    if tp == 1:
        return 0.0
    nvlink = r.gpu.interconnect.startswith("NVLink") and r.gpu.nvlink_gbps_bidirectional
    if nvlink:
        bandwidth = (r.gpu.nvlink_gbps_bidirectional or 0.0) / 2 * 1e9 * NVLINK_EFFICIENCY
        latency = NVLINK_LATENCY_S
    else:
        bandwidth, latency = PCIE_GBPS * 1e9, PCIE_LATENCY_S
    payload = tokens * r.arch.hidden_size * 2.0 * 2 * (tp - 1) / tp  # ring: 2(n-1)/n of it
    layers = math.ceil(r.arch.num_layers / r.inputs.pp)
    return 2 * layers * (latency + payload / bandwidth)


def overhead_s(r: Replica, requests: float) -> float:
    base = STEP_OVERHEAD_S + PER_SEQ_OVERHEAD_S * requests
    return base if r.v1_engine else base * V0_OVERHEAD_FACTOR


def step_s(r: Replica, *, decoding: float, prefill: float, context: float) -> float:
    """One engine step: ``decoding`` requests at ``context`` plus ``prefill`` prompt tokens.

    With PP the batch is split into ``pp`` micro-batches that pass every stage in turn, so a
    request waits ``pp`` stage-times per token (each stage holds 1/pp of the layers and runs
    one micro-batch at a time), divided by the pipeline's efficiency.
    """
    pp = r.inputs.pp
    dec, pre = decoding / pp, prefill / pp
    memory_s = weight_read_s(r, dec + pre) + kv_read_s(r, requests=dec, context=context)
    work_s = compute_s(r, tokens=dec, context=context, mfu=DECODE_MFU)
    work_s += compute_s(r, tokens=pre, context=prefill / 2 if prefill else 0, mfu=PREFILL_MFU)
    stage = max(memory_s, work_s) + all_reduce_s(r, dec + pre)
    if pp == 1:
        return stage + overhead_s(r, decoding)
    return (pp * (stage + PP_HOP_S)) / PP_EFFICIENCY + overhead_s(r, decoding)


def paced_s(r: Replica, *, engine_s: float, tokens: float, ingested: float = 0.0) -> float:
    """How long a step looks to clients once the API server has streamed its tokens.

    The API server's event loop turns every generated token into an SSE chunk and takes in
    every new request (``FRONTEND_TOKEN_S``, ``FRONTEND_REQUEST_S``). From the V1 engine it is
    a separate process, so it overlaps the GPU and only paces the step when it is slower;
    before V1 it ran in the engine's process, in series with the step.
    """
    cpu = FRONTEND_TOKEN_S * tokens + FRONTEND_REQUEST_S * ingested
    return max(engine_s, cpu) if r.v1_engine else engine_s + cpu


def first_token_overhead_s() -> float:
    """What a lone request's TTFT holds beside its prompt step.

    ``REQUEST_OVERHEAD_S`` (client HTTP round trip, engine-core hand-offs, first-token
    delivery) plus the API server's own work on the request's path: taking it in
    (``FRONTEND_REQUEST_S``) before the engine sees it, and streaming its first token
    (``FRONTEND_TOKEN_S``) after. A burst replays the intake and streaming itself.
    """
    return REQUEST_OVERHEAD_S + FRONTEND_REQUEST_S + FRONTEND_TOKEN_S


def at_concurrency(r: Replica, load: Workload, concurrency: float) -> Speed:
    """N clients, each sending its next request when the last one ends (a closed loop).

    Beyond what the engine admits the extra requests wait in its queue: the throughput is the
    admitted batch's and the wait (extra / rate, Little's law) is added to the TTFT.
    """
    top = admitted(r, load)
    if concurrency <= top:
        return _closed_loop(r, load, concurrency)
    speed = _closed_loop(r, load, top)
    wait = (concurrency - top) / speed.requests_per_s
    return dataclasses.replace(
        speed, ttft_s=speed.ttft_s + wait, concurrency=concurrency, saturated=True
    )


def _closed_loop(r: Replica, load: Workload, concurrency: float) -> Speed:
    """N requests in flight, all running.

    Fixed point: the prompt tokens of the other N − 1 clients arriving per step (chunked-prefill
    interference) are (N − 1)/N × request rate × prompt length × step time, and the rate is
    N / request latency. A prompt is
    scheduled whole (up to ``max_num_batched_tokens``), so while fewer than one prompt arrives
    per step most steps carry none and a few carry a whole one (``mixed_step_s``). A new
    request waits for the step in progress (``residual_s``) unless the engine is idle.
    """
    n = max(concurrency, 1e-3)
    i, o = load.input_tokens, load.output_tokens
    context = in_flight_context(load)
    budget = float(r.memory.max_num_batched_tokens)
    first = step_s(r, decoding=max(n - 1, 0.0), prefill=min(i, budget), context=context)
    prompt_s = math.ceil(i / budget) * first
    cached = (
        step_s(r, decoding=n, prefill=0.0, context=context),
        step_s(r, decoding=n, prefill=min(i, budget), context=context),
    )
    tpot = paced_s(r, engine_s=cached[0], tokens=n)
    ttft = first_token_overhead_s() + prompt_s
    rate = n / (ttft + max(o - 1, 0.0) * tpot)
    for _ in range(100):
        others = rate * i * tpot * max(n - 1.0, 0.0) / n  # a request's own prompt is in its TTFT
        tpot, square = mixed_step_s(
            r, load, decoding=n, per_step=others, context=context, cached=cached
        )
        ingested = rate * tpot
        tpot = paced_s(r, engine_s=tpot, tokens=n, ingested=ingested)
        square = max(square, tpot * tpot)
        busy = _busy_share(n, engine=max(o - 1, 0.0) * tpot + prompt_s, cycle=n / rate)
        ttft = first_token_overhead_s() + prompt_s + busy * square / (2 * tpot)
        new = n / (ttft + max(o - 1, 0.0) * tpot)
        if abs(new - rate) <= 1e-6 * new:
            break
        rate = (rate + new) / 2
    return Speed(
        output_tokens_per_s=rate * o,
        requests_per_s=rate,
        ttft_s=ttft,
        tpot_s=tpot,
        concurrency=n,
        saturated=False,
    )


def mixed_step_s(
    r: Replica,
    load: Workload,
    *,
    decoding: float,
    per_step: float,
    context: float,
    cached: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """Mean engine step and mean squared step when ``per_step`` prompt tokens arrive per step.

    The scheduler takes a waiting prompt whole, up to ``max_num_batched_tokens``: a step
    carries a chunk of at least one prompt or none. With ``per_step`` below one prompt, a share
    ``per_step / prompt`` of the steps carry one and the rest only decode; the mean of the two
    is not the step at the mean prefill (weight reads, above all MoE experts, are paid once per
    step whatever the tokens). From one prompt per step on, every step carries ``per_step``.
    ``cached`` is (decode-only step, step with one prompt) at these ``decoding``/``context``.
    """
    budget = float(r.memory.max_num_batched_tokens)
    prompt = min(load.input_tokens, budget)
    if cached is None:
        cached = (
            step_s(r, decoding=decoding, prefill=0.0, context=context),
            step_s(r, decoding=decoding, prefill=prompt, context=context),
        )
    plain, one = cached
    if per_step <= 0 or prompt <= 0:
        return plain, plain * plain
    if per_step >= prompt:
        full = step_s(r, decoding=decoding, prefill=min(per_step, budget), context=context)
        return full, full * full
    share = per_step / prompt
    mean = (1 - share) * plain + share * one
    return mean, (1 - share) * plain * plain + share * one * one


def _busy_share(n: float, *, engine: float, cycle: float) -> float:
    """Chance that at least one of the other ``n − 1`` clients has a request in the engine.

    Each client spends ``engine`` of its ``cycle`` (request latency) with a request running;
    a request that finds the engine idle is scheduled at once, otherwise it waits for the
    step in progress to end.
    """
    phi = min(max(engine / cycle, 0.0), 1.0) if cycle > 0 else 1.0
    return 1.0 - float((1.0 - phi) ** max(n - 1.0, 0.0))


def in_flight_context(load: Workload) -> float:
    """Mean context of a request in flight. Long requests stay longer, so the requests running
    at any moment are longer than the mean: with output lengths spread like an exponential
    (``LENGTH_CV`` = 1) the running ones are on average ``O`` tokens in, not ``O / 2``.
    """
    return load.input_tokens + load.output_tokens * (1 + LENGTH_CV**2) / 2


def admitted(r: Replica, load: Workload) -> float:
    """Requests the engine runs at once: ``max_num_seqs`` and the KV cache at their context."""
    per_request = in_flight_context(load) + r.inputs.block_size / 2
    by_kv = r.memory.kv_tokens / max(per_request, 1.0)
    return max(1.0, min(float(r.memory.max_num_seqs), by_kv))


def at_max(r: Replica, load: Workload, *, prompts: int | None = None) -> Speed:
    """Every request sent at time zero: the engine runs as many as it admits.

    Without ``prompts`` it is the steady state of the admitted batch. With ``prompts`` (a
    benchmark's request count) it is that finite burst, replayed step by step by ``burst``.
    """
    if prompts is None:
        return _closed_loop(r, load, admitted(r, load))
    from kubefoundry.planning import burst  # here: burst imports this module

    return burst.burst(r, load, prompts=prompts)


def at_rate(r: Replica, load: Workload, requests_per_s: float) -> Speed:
    """Requests arriving at a mean rate: the concurrency whose throughput equals it.

    Little's law (N = rate × latency) solved by bisection on N; a rate beyond what the
    admitted batch serves is reported as the saturated figures, flagged. Arrivals are
    Poisson-like, so bunches of them wait: ``queue_wait_s`` is added to the TTFT.
    """
    top = admitted(r, load)
    best = _closed_loop(r, load, top)
    if requests_per_s >= best.requests_per_s:
        return dataclasses.replace(best, saturated=True)
    low, high = 0.0, top
    for _ in range(60):
        mid = (low + high) / 2
        if _closed_loop(r, load, max(mid, 1e-3)).requests_per_s < requests_per_s:
            low = mid
        else:
            high = mid
    return dataclasses.replace(
        arriving(r, load, max(high, 1e-3), capacity=best.requests_per_s),
        requests_per_s=requests_per_s,
        output_tokens_per_s=requests_per_s * load.output_tokens,
    )


def arriving(r: Replica, load: Workload, concurrency: float, *, capacity: float) -> Speed:
    """Poisson arrivals at the rate ``concurrency`` requests in flight carry: the closed loop's
    figures with the queueing wait of that rate added to the TTFT.

    ``at_rate`` is this at the concurrency its search finds; the planner's capacity search
    walks the concurrency itself and calls this (one step per try, no inner search).
    ``capacity`` is the replica's saturated requests/s.
    """
    speed = _closed_loop(r, load, concurrency)
    if speed.requests_per_s >= capacity:
        return dataclasses.replace(speed, saturated=True)
    ttft = speed.ttft_s + queue_wait_s(rate=speed.requests_per_s, capacity=capacity)
    n = speed.requests_per_s * (ttft + max(load.output_tokens - 1, 0.0) * speed.tpot_s)
    return dataclasses.replace(speed, ttft_s=ttft, concurrency=n)


def queue_wait_s(*, rate: float, capacity: float) -> float:
    """Mean wait of Poisson arrivals at a server of ``capacity`` requests/s (Pollaczek-Khinchine).

    ``ρ / (1 − ρ) × (1 + cv²) / 2 × 1 / capacity`` with ``ρ = rate / capacity`` and the spread
    of request work ``LENGTH_CV``: small at light load, without bound as the rate nears
    capacity.
    """
    rho = min(rate / capacity, 0.999)
    return rho / (1 - rho) * (1 + LENGTH_CV**2) / 2 / capacity


def _dense_bytes_per_gpu(arch: ModelArch, inputs: memory.MemoryInputs) -> float:
    """Weights outside the experts of an MoE that one GPU reads each step (no embedding)."""
    moe = arch.moe
    assert moe is not None
    matrices = 3 if arch.gated_mlp else 2
    layers = arch.num_layers - moe.first_dense_layers
    experts = layers * moe.num_experts * matrices * arch.hidden_size * moe.expert_intermediate_size
    dense = weights.parameter_count(arch) - experts - arch.vocab_size * arch.hidden_size
    act = weights.DTYPE_BYTES[inputs.dtype]
    quant = inputs.quantization
    fmt = weights.LinearFormat.of(None if quant and quant.method == "mxfp4" else quant, act)
    return dense * fmt.bytes_per_weight / (inputs.tp * inputs.pp)
