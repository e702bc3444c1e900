"""The speed model's mechanisms, each on its own, on real config.json copies and catalog GPUs."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from tests.conftest import hf_config

from kubefoundry.catalog import gpus
from kubefoundry.catalog.architecture import ModelArch, Quantization, from_hf_config
from kubefoundry.planning import memory, speed

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
