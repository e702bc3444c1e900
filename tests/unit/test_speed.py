"""The speed model's mechanisms, each on its own, on real config.json copies and catalog GPUs."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from tests.conftest import hf_config

from kubefoundry.catalog import gpus
from kubefoundry.catalog.architecture import ModelArch, Quantization, from_hf_config
from kubefoundry.planning import burst, memory, speed

LLAMA_8B = "meta-llama__Llama-3.1-8B-Instruct"
MIXTRAL = "mistralai__Mixtral-8x7B-Instruct-v0.1"
CHAT = speed.Workload(input_tokens=512, output_tokens=256)


def arch(name: str) -> ModelArch:
    return from_hf_config(hf_config(name))


def replica(
    name: str = LLAMA_8B,
    gpu: str | gpus.GPU = "H100",
    *,
    tp: int = 1,
    pp: int = 1,
    quantization: Quantization | None = None,
) -> speed.Replica:
    card = gpus.load().get(gpu) if isinstance(gpu, str) else gpu
    inputs = memory.MemoryInputs(
        gpu_total_gib=card.cuda_total_gib,
        tp=tp,
        pp=pp,
        max_model_len=8192,
        quantization=quantization,
        gpu_name=card.id,
    )
    return speed.replica(arch(name), card, inputs)


def test_doubling_the_prompt_roughly_doubles_prefill_time() -> None:
    r = replica()
    one = speed.at_concurrency(r, speed.Workload(input_tokens=2000, output_tokens=64), 1)
    two = speed.at_concurrency(r, speed.Workload(input_tokens=4000, output_tokens=64), 1)
    prefill = [s.ttft_s - speed.REQUEST_OVERHEAD_S for s in (one, two)]
    assert 1.7 < prefill[1] / prefill[0] < 2.3


def test_tp2_gains_less_over_pcie_than_over_nvlink() -> None:
    nvlink = gpus.load().get("H100")
    pcie = dataclasses.replace(nvlink, interconnect="PCIe Gen5 x16; no NVLink")

    def gain(card: gpus.GPU) -> float:
        single = speed.at_concurrency(replica(gpu=card, tp=1), CHAT, 1).tpot_s
        return single / speed.at_concurrency(replica(gpu=card, tp=2), CHAT, 1).tpot_s

    assert 1.0 < gain(pcie) < gain(nvlink)


def test_more_concurrency_raises_throughput_and_tpot_until_saturation() -> None:
    r = replica()
    top = speed.admitted(r, CHAT)
    runs = [speed.at_concurrency(r, CHAT, n) for n in (1, 4, 16, 64, top)]
    for smaller, larger in itertools.pairwise(runs):
        assert larger.output_tokens_per_s > smaller.output_tokens_per_s
        assert larger.tpot_s >= smaller.tpot_s
    beyond = speed.at_concurrency(r, CHAT, top * 2)
    assert beyond.saturated
    assert beyond.output_tokens_per_s == pytest.approx(runs[-1].output_tokens_per_s)
    assert beyond.ttft_s > runs[-1].ttft_s  # the extra requests wait in the queue


def test_decode_saturates_on_compute_at_large_batch() -> None:
    r = replica()
    gains = [
        speed.at_concurrency(r, CHAT, 2 * n).output_tokens_per_s
        / speed.at_concurrency(r, CHAT, n).output_tokens_per_s
        for n in (1, 128)
    ]
    assert gains[0] > 1.8  # batch 2 is nearly free: the weights are read once
    assert gains[1] < gains[0]


def test_weight_only_4bit_lowers_decode_time_at_batch_1() -> None:
    awq = Quantization(method="awq", bits=4, group_size=128)
    plain, quantized = replica(), replica(quantization=awq)
    assert quantized.compute_tflops == plain.compute_tflops  # weight-only: same 16-bit matmuls
    tpot = [speed.at_concurrency(r, CHAT, 1).tpot_s for r in (plain, quantized)]
    assert tpot[1] < tpot[0] * 0.6


@pytest.mark.parametrize(("gpu", "fp8_compute"), [("H100", True), ("L4", True), ("A100", False)])
def test_fp8_computes_in_fp8_only_on_gpus_that_have_it(gpu: str, fp8_compute: bool) -> None:
    fp8 = replica(gpu=gpu, quantization=Quantization(method="fp8", bits=8))
    card = gpus.load().get(gpu)
    expected = card.fp8_dense_tflops if fp8_compute else card.bf16_dense_tflops
    assert fp8.compute_tflops == expected


def test_moe_touches_more_experts_at_larger_batch() -> None:
    mixtral = arch(MIXTRAL)
    shares = [speed.experts_touched_share(mixtral, n) for n in (1, 2, 8, 64)]
    assert shares[0] == pytest.approx(2 / 8)
    assert shares == sorted(shares)
    assert shares[-1] == pytest.approx(1.0, abs=1e-3)
    assert speed.experts_touched_share(arch(LLAMA_8B), 1) == 1.0


def test_request_rate_within_capacity_is_served_at_that_rate() -> None:
    r = replica()
    got = speed.at_rate(r, CHAT, 1.0)
    assert not got.saturated
    assert got.requests_per_s == pytest.approx(1.0)
    assert got.output_tokens_per_s == pytest.approx(256.0)
    assert 0 < got.concurrency < speed.admitted(r, CHAT)


def test_request_rate_beyond_capacity_is_reported_saturated() -> None:
    r = replica(gpu="L4")
    capacity = speed.at_concurrency(r, CHAT, speed.admitted(r, CHAT))
    got = speed.at_rate(r, CHAT, 10_000.0)
    assert got.saturated
    assert got.requests_per_s == pytest.approx(capacity.requests_per_s)
    assert got.output_tokens_per_s > 0
    assert got.ttft_s > 0
    assert got.tpot_s > 0


def test_pipeline_stages_add_latency_per_token() -> None:
    single = speed.at_concurrency(replica(pp=1), CHAT, 1).tpot_s
    assert speed.at_concurrency(replica(pp=2), CHAT, 1).tpot_s > single


def test_admitted_is_bounded_by_max_num_seqs_and_kv_cache() -> None:
    r = replica(gpu="L4")
    long = speed.Workload(input_tokens=6000, output_tokens=1000)
    assert speed.admitted(r, long) < speed.admitted(r, CHAT) <= r.memory.max_num_seqs


def test_burst_tpot_is_a_per_request_mean_above_the_time_average(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # n requests that all fit, exponential lengths: the batch a request lives through is
    # about ln 2 · n (hand calculation), far above the run's time average n / H(n). Short
    # prompts and a free API server leave the batch size as the only effect.
    monkeypatch.setattr(speed, "FRONTEND_TOKEN_S", 0.0)
    monkeypatch.setattr(speed, "FRONTEND_REQUEST_S", 0.0)
    r = replica()
    n = 400
    load = speed.Workload(input_tokens=8, output_tokens=200)
    got = burst.burst(r, load, prompts=n)
    context = speed.in_flight_context(load)
    harmonic = sum(1 / k for k in range(1, n + 1))
    time_average = speed.step_s(r, decoding=n / harmonic, prefill=0, context=context)
    assert got.tpot_s > 1.3 * time_average
    experienced = speed.step_s(r, decoding=0.69 * n, prefill=0, context=context)
    assert got.tpot_s == pytest.approx(experienced, rel=0.15)


def test_burst_of_one_request_is_one_prefill_then_decode_steps() -> None:
    r = replica()
    load = speed.Workload(input_tokens=512, output_tokens=100)
    got = burst.burst(r, load, prompts=1)
    prefill = speed.step_s(r, decoding=0, prefill=512, context=0)
    arrive = speed.FRONTEND_REQUEST_S
    assert got.ttft_s == pytest.approx(speed.REQUEST_OVERHEAD_S + arrive + prefill, rel=1e-6)
    decode = speed.step_s(r, decoding=1, prefill=0, context=562)
    assert got.tpot_s == pytest.approx(decode, rel=0.02)


def test_a_kv_starved_burst_preempts_and_recomputes() -> None:
    r = replica()
    load = speed.Workload(input_tokens=200, output_tokens=200)
    starved = dataclasses.replace(r, memory=dataclasses.replace(r.memory, kv_tokens=8_000))
    ample, tight = (burst.burst(x, load, prompts=300) for x in (r, starved))
    assert tight.output_tokens_per_s < ample.output_tokens_per_s
    assert tight.ttft_s > ample.ttft_s
    # 8000 KV tokens hold at most 8000 / 200 = 40 prompts; they cannot all stay to the end
    assert tight.concurrency < 300


def test_api_server_caps_streamed_tokens_per_second() -> None:
    # With a GPU that costs nothing, a V1 engine streams one token per FRONTEND_TOKEN_S.
    card = gpus.load().get("H100")
    fast = dataclasses.replace(card, memory_bandwidth_gbps=1e9, bf16_dense_tflops=1e9)
    r = dataclasses.replace(replica(gpu=fast), compute_tflops=1e9)
    load = speed.Workload(input_tokens=10, output_tokens=2000)
    got = speed.at_concurrency(r, load, 200)
    assert got.tpot_s >= 200 * speed.FRONTEND_TOKEN_S
    assert got.output_tokens_per_s == pytest.approx(1 / speed.FRONTEND_TOKEN_S, rel=0.05)


def test_pipeline_stages_split_prefill_compute() -> None:
    # A compute-bound prompt chunk: each of PP 2's stages runs half the layers on each half
    # of the chunk in turn, so two GPUs share the FLOPs, less the pipeline's efficiency.
    one = speed.step_s(replica(pp=1), decoding=0, prefill=8192, context=0)
    two = speed.step_s(replica(pp=2), decoding=0, prefill=8192, context=0)
    assert two == pytest.approx(one / 2 / speed.PP_EFFICIENCY, rel=0.05)


def test_routed_expert_flops_run_at_the_moe_mfu() -> None:
    mixtral = arch(MIXTRAL)
    routed = 32 * 2 * 3 * 4096 * 14336  # layers × top-k × matrices × hidden × expert width
    assert speed.routed_parameters(mixtral) == routed
    r = replica(MIXTRAL, tp=2)
    peak = 2 * r.compute_tflops * 1e12
    dense = speed.flops_per_token(mixtral, 0) - 2 * routed
    expected = 1000 * (dense / 0.55 + 2 * routed / speed.MOE_MFU) / peak
    assert speed.compute_s(r, tokens=1000, context=0, mfu=0.55) == pytest.approx(expected)


def test_poisson_wait_grows_without_bound_towards_capacity() -> None:
    waits = [speed.queue_wait_s(rate=x, capacity=10.0) for x in (1.0, 5.0, 9.0, 9.9)]
    assert waits[1] == pytest.approx(1.0 * 1 / 10)  # ρ/(1−ρ) = 1, (1 + 1)/2 = 1, S = 0.1 s
    assert waits == sorted(waits)
    assert waits[-1] > 50 * waits[0]
    r = replica()
    capacity = speed.at_concurrency(r, CHAT, speed.admitted(r, CHAT)).requests_per_s
    near, half = (speed.at_rate(r, CHAT, capacity * x) for x in (0.95, 0.5))
    queue = speed.queue_wait_s(rate=0.95 * capacity, capacity=capacity)
    assert near.ttft_s - half.ttft_s > queue / 2


def test_api_server_intake_gets_the_idle_time_or_the_streaming_share() -> None:
    v1 = replica()
    v0 = dataclasses.replace(v1, v1_engine=False)
    # V1: the loop waits 10 − 4 = 6 ms for the GPU, more than the 4 ms it streams.
    assert burst.intake_s(v1, engine_s=10e-3, stream_s=4e-3, pending_s=1.0) == pytest.approx(6e-3)
    # Streaming outlasts the GPU step: intake gets as much as the streaming, 5 ms.
    assert burst.intake_s(v1, engine_s=2e-3, stream_s=5e-3, pending_s=1.0) == pytest.approx(5e-3)
    # Never more than the requests still pending need.
    assert burst.intake_s(v1, engine_s=10e-3, stream_s=0.0, pending_s=1e-3) == pytest.approx(1e-3)
    # V0: the loop also ran the engine step, so intake gets engine + streaming and adds to it.
    assert burst.intake_s(v0, engine_s=2e-3, stream_s=5e-3, pending_s=1.0) == pytest.approx(7e-3)
    assert burst.step_seen_s(v0, engine_s=2e-3, stream_s=5e-3, intake=7e-3) == pytest.approx(14e-3)
    assert burst.step_seen_s(v1, engine_s=2e-3, stream_s=5e-3, intake=5e-3) == pytest.approx(10e-3)


def test_burst_intake_slows_while_the_api_server_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every engine step costs 1 ms. With free streaming the loop takes in one request per
    # FRONTEND_REQUEST_S (4 ms): request k's first token comes at 4(k + 1) + 1 ms, a mean of
    # 4 × 101 / 2 + 1 = 203 ms over 100 requests (hand calculation).
    monkeypatch.setattr(speed, "step_s", lambda *_, **__: 1e-3)
    monkeypatch.setattr(speed, "FRONTEND_REQUEST_S", 4e-3)
    monkeypatch.setattr(speed, "FRONTEND_TOKEN_S", 0.0)
    monkeypatch.setattr(speed, "FRONTEND_ARRIVAL_SHARE", 0.0)
    r, load = replica(), speed.Workload(input_tokens=8, output_tokens=50)
    free = burst.burst(r, load, prompts=100)
    assert free.ttft_s - speed.REQUEST_OVERHEAD_S == pytest.approx(0.203, rel=1e-3)
    # Streaming a token costs 1 ms, more than the step: intake only gets as much time as the
    # streaming, so requests come in at most half as fast and the first tokens at least twice
    # as late; the streams themselves slow to several ms a token.
    monkeypatch.setattr(speed, "FRONTEND_TOKEN_S", 1e-3)
    busy = burst.burst(r, load, prompts=100)
    assert busy.ttft_s - speed.REQUEST_OVERHEAD_S > 2 * 0.203
    assert busy.tpot_s > 2 * 1e-3


def test_prompts_arrive_whole_so_steps_mix_decode_only_and_one_prompt() -> None:
    r = replica("Qwen__Qwen3-30B-A3B")  # 128 experts, 8 per token
    load = speed.Workload(input_tokens=400, output_tokens=200)
    plain = speed.step_s(r, decoding=4, prefill=0, context=500)
    one = speed.step_s(r, decoding=4, prefill=400, context=500)
    mean, square = speed.mixed_step_s(r, load, decoding=4, per_step=100, context=500)
    # a quarter of the steps carry the whole 400-token prompt, the rest only decode
    assert mean == pytest.approx(0.75 * plain + 0.25 * one)
    assert square == pytest.approx(0.75 * plain**2 + 0.25 * one**2)
    # experts are read once per step: the mix is cheaper than 100 tokens in every step
    # (4 + 100 tokens touch most of the 128 experts, 4 alone about a quarter)
    assert mean < speed.step_s(r, decoding=4, prefill=100, context=500)
    # from one prompt per step on, every step carries what arrives
    many, _ = speed.mixed_step_s(r, load, decoding=4, per_step=1000, context=500)
    assert many == pytest.approx(speed.step_s(r, decoding=4, prefill=1000, context=500))


def test_one_client_pays_its_prompt_once_and_never_waits_for_a_step() -> None:
    r = replica()
    load = speed.Workload(input_tokens=512, output_tokens=128)
    got = speed.at_concurrency(r, load, 1)
    context = speed.in_flight_context(load)
    decode = speed.paced_s(
        r, engine_s=speed.step_s(r, decoding=1, prefill=0, context=context), tokens=1
    )
    prompt = speed.step_s(r, decoding=0, prefill=512, context=context)
    assert got.tpot_s == pytest.approx(decode, rel=1e-3)  # its own prompt is not interference
    # 35 ms of round trip, 4 ms taken in by the API server, the prompt step, 0.1 ms to stream
    # the first token: nothing else (the engine is idle when it arrives)
    assert speed.first_token_overhead_s() == pytest.approx(0.035 + 0.004 + 0.0001)
    assert got.ttft_s == pytest.approx(0.0391 + prompt, rel=1e-6)


def test_a_request_waits_for_the_step_in_progress_when_others_run() -> None:
    # each of 2 other clients has a request in the engine half of the time: 1 - 0.5² busy
    assert speed._busy_share(3, engine=1.0, cycle=2.0) == pytest.approx(0.75)
    assert speed._busy_share(1, engine=1.0, cycle=2.0) == 0.0
    r = replica()
    load = speed.Workload(input_tokens=512, output_tokens=128)
    got = speed.at_concurrency(r, load, 8)
    prompt = speed.step_s(r, decoding=7, prefill=512, context=speed.in_flight_context(load))
    wait = got.ttft_s - speed.first_token_overhead_s() - prompt
    # the residual of a step in progress: about half a step (more when steps vary)
    assert 0.45 * got.tpot_s < wait < 1.0 * got.tpot_s


def test_a_burst_is_taken_in_round_robin_before_any_request_reaches_the_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Steps cost 1 ms, streaming is free, a request costs the API server 4 ms of which half
    # (FRONTEND_ARRIVAL_SHARE 0.5) runs for every request of the burst before any goes on:
    # 100 × 2 ms = 200 ms, then one request per 2 ms. Request k's first token comes at
    # 200 + 2(k + 1) + 1 ms, a mean of 200 + 101 + 1 = 302 ms (hand calculation), where the
    # same 4 ms handed in one by one give 4 × 101 / 2 + 1 = 203 ms.
    monkeypatch.setattr(speed, "step_s", lambda *_, **__: 1e-3)
    monkeypatch.setattr(speed, "FRONTEND_REQUEST_S", 4e-3)
    monkeypatch.setattr(speed, "FRONTEND_TOKEN_S", 0.0)
    monkeypatch.setattr(speed, "FRONTEND_ARRIVAL_SHARE", 0.5)
    r, load = replica(), speed.Workload(input_tokens=8, output_tokens=50)
    got = burst.burst(r, load, prompts=100)
    assert got.ttft_s - speed.REQUEST_OVERHEAD_S == pytest.approx(0.302, rel=1e-3)
    # one request alone pays its whole 4 ms, as before
    one = burst.burst(r, load, prompts=1)
    assert one.ttft_s - speed.REQUEST_OVERHEAD_S == pytest.approx(0.005, rel=1e-6)
