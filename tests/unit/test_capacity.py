"""Plans sized by the workload (issue 9): the traffic, a replica's capacity within the latency
targets, the replicas for the peak, and $/1M input and output tokens.

Each figure the plan shows is checked against the speed model re-run at that load, or against
a hand calculation from the plan's own $/hour and rates.
"""

from __future__ import annotations

import math

import pytest

from kubefoundry.catalog import gpus, instances, models
from kubefoundry.core.errors import InvalidInputError
from kubefoundry.core.spec import DeploymentSpec, WorkloadSpec
from kubefoundry.planning import capacity, memory, planner, speed, tiers, workloads
from kubefoundry.planning.plans import Plan

CATALOG = models.ModelCatalog.load()
GPUS = gpus.load()
INSTANCES = instances.load()


def _plan(model: str = "llama-3.1-8b", **fields: object) -> Plan:
    request = DeploymentSpec.model_validate({"model": model, **fields})
    return planner.plan(request, CATALOG.get(model), gpus=GPUS, instances=INSTANCES)


def _replica(plan: Plan, model: str = "llama-3.1-8b") -> speed.Replica:
    """The speed model's replica for the plan's own choices."""
    inputs = memory.MemoryInputs(
        gpu_total_gib=GPUS.get(plan.gpu).cuda_total_gib,
        tp=plan.tensor_parallel,
        pp=plan.pipeline_parallel,
        gpu_memory_utilization=plan.gpu_memory_utilization,
        max_model_len=plan.max_model_len,
        dtype=plan.dtype,  # type: ignore[arg-type]
        quantization=None,
        kv_cache_dtype=plan.kv_cache_dtype,  # type: ignore[arg-type]
        vllm_version=plan.engine_version,
        gpu_name=plan.gpu,
    )
    return speed.replica(CATALOG.get(model).arch, GPUS.get(plan.gpu), inputs)


def test_every_profile_in_the_data_is_a_request_vocabulary_word() -> None:
    from typing import get_args

    from kubefoundry.core import choices

    names = [p.name for p in workloads.profiles()]
    assert sorted(names) == sorted(get_args(choices.Workload))
    for p in workloads.profiles():
        assert 0 < p.input_tokens <= p.input_tokens_p90
        assert 0 < p.output_tokens <= p.output_tokens_p90
        assert (p.ttft_ms is None) == (p.tpot_ms is None)


def test_the_profile_fills_what_the_request_leaves_out_and_says_so() -> None:
    chat = workloads.profile("chat")
    got = workloads.resolve(WorkloadSpec(input_tokens=600), tiers.get("good"))
    assert (got.input_tokens, got.output_tokens) == (600, chat.output_tokens)
    assert got.input_tokens_p90 == chat.input_tokens_p90
    assert "input_tokens" not in got.assumed
    assert "output_tokens" in got.assumed
    assert got.concurrent_users == tiers.get("good").default_concurrency
    assert chat.ttft_ms is not None
    assert got.ttft_s == pytest.approx(chat.ttft_ms * 2.0 / 1000)  # Good relaxes 2×
    best = workloads.resolve(WorkloadSpec(ttft_ms=300), tiers.get("best"))
    assert best.ttft_s == pytest.approx(0.3)  # the request's own target is not scaled
    assert chat.tpot_ms is not None
    assert best.tpot_s == pytest.approx(chat.tpot_ms * 0.5 / 1000)


def test_a_p90_below_the_mean_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInputError) as caught:
        workloads.resolve(
            WorkloadSpec(input_tokens=5000, input_tokens_p90=3000), tiers.get("better")
        )
    assert "workload.input_tokens_p90" in caught.value.message
    assert "`workload.input_tokens_p90`" in (caught.value.hint or "")


def test_the_context_limit_takes_a_p90_request_not_n_of_the_longest() -> None:
    """Reasoning's p90 request is 4,000 + 12,000 tokens: the Good tier's 8k ceiling doubles
    to 16k. One request that long must fit; typical requests are the speed model's."""
    plan = _plan(tier="good", workload={"profile": "reasoning"})
    assert plan.max_model_len == 16384
    assert plan.memory.max_concurrency >= 1.0
    chat = _plan(tier="good")
    assert chat.max_model_len == 8192


def test_replicas_are_the_peak_over_a_replicas_planned_load() -> None:
    plan = _plan(workload={"profile": "chat", "requests_per_s": 20})
    perf = plan.performance
    assert perf is not None
    per_replica = perf.capacity_requests_per_s * perf.load_share
    assert perf.replicas_needed == math.ceil(20 / per_replica)
    tier = tiers.get("better")
    assert plan.replicas == max(tier.replicas, perf.replicas_needed + tier.spare_replicas)
    # The figures at the peak are the speed model's at the peak's share of one replica.
    got = speed.at_rate(_replica(plan), speed.Workload(1000, 250), 20 / perf.replicas_needed)
    assert perf.ttft_ms == pytest.approx(got.ttft_s * 1000, rel=0.01)
    assert perf.tpot_ms == pytest.approx(got.tpot_s * 1000, rel=0.01)


def test_a_replicas_capacity_is_where_a_target_starts_to_be_missed() -> None:
    plan = _plan(workload={"profile": "chat", "requests_per_s": 20})
    perf = plan.performance
    assert perf is not None
    r = _replica(plan)
    load = speed.Workload(1000, 250)
    at = speed.at_rate(r, load, perf.capacity_requests_per_s * 0.99)
    assert at.ttft_s <= 1.0  # chat's Better targets
    assert at.tpot_s <= 0.060
    beyond = speed.at_rate(r, load, perf.capacity_requests_per_s * 1.05)
    assert beyond.saturated or beyond.ttft_s > 1.0 or beyond.tpot_s > 0.060


def test_twice_the_peak_needs_about_twice_the_replicas() -> None:
    one = _plan(gpu="L40S", gpu_count=1, workload={"requests_per_s": 30})
    two = _plan(gpu="L40S", gpu_count=1, workload={"requests_per_s": 60})
    assert one.performance
    assert two.performance
    assert two.performance.replicas_needed in (
        2 * one.performance.replicas_needed - 1,
        2 * one.performance.replicas_needed,
        2 * one.performance.replicas_needed + 1,
    )


def test_a_tighter_tpot_target_lowers_what_a_replica_carries() -> None:
    loose = _plan(gpu="L40S", gpu_count=1, workload={"tpot_ms": 80, "requests_per_s": 5})
    tight = _plan(gpu="L40S", gpu_count=1, workload={"tpot_ms": 30, "requests_per_s": 5})
    assert loose.performance
    assert tight.performance
    assert tight.performance.capacity_requests_per_s < loose.performance.capacity_requests_per_s


def test_token_prices_split_the_bill_and_add_up_to_it() -> None:
    """Hand calculation from the plan's $/hour, its peak rate and the tier's mean load."""
    plan = _plan(workload={"profile": "rag", "requests_per_s": 4})
    cost, perf = plan.cost, plan.performance
    assert perf is not None
    assert cost.usd_per_hour_total is not None
    assert cost.usd_per_million_input_tokens is not None
    assert cost.usd_per_million_output_tokens is not None
    requests_per_h = 4 * cost.utilisation * 3600
    bill_in = cost.usd_per_million_input_tokens * requests_per_h * 4000 / 1e6
    bill_out = cost.usd_per_million_output_tokens * requests_per_h * 300 / 1e6
    assert bill_in + bill_out == pytest.approx(cost.usd_per_hour_total, rel=0.01)
    assert bill_in / (bill_in + bill_out) == pytest.approx(perf.prefill_share, abs=0.01)
    # A RAG prompt is 13× its answer: prompts take a real share of the replica's time.
    assert 0.1 < perf.prefill_share < 0.9
    busy = cost.usd_per_million_output_tokens_busy
    assert busy is not None
    assert busy <= cost.usd_per_million_output_tokens


def test_prompts_take_more_of_the_time_the_longer_they_are() -> None:
    plan = _plan(gpu="L40S", gpu_count=1)
    r = _replica(plan)
    better = tiers.get("better")
    short = workloads.resolve(WorkloadSpec(input_tokens=200), better)
    long = workloads.resolve(WorkloadSpec(input_tokens=8000), better)
    got = [capacity.prefill_share(r, t, concurrency=8, requests_per_s=1.0) for t in (short, long)]
    # A 200-token prompt rides in a memory-bound decode step almost for free; 8,000 do not.
    assert 0 <= got[0] < got[1] < 1


def test_the_prompts_share_is_what_their_chunks_add_to_decode_steps() -> None:
    """By hand: an 8,000-token prompt on an L40S (2,048-token chunks) is 4 chunks of 2,000;
    each adds step_s(8 decoding + 2,000 prefill) − step_s(8 decoding) to a step."""
    plan = _plan(gpu="L40S", gpu_count=1)
    r = _replica(plan)
    assert r.memory.max_num_batched_tokens == 2048
    traffic = workloads.resolve(WorkloadSpec(input_tokens=8000), tiers.get("better"))
    context = speed.in_flight_context(speed.Workload(8000, traffic.output_tokens))
    extra = speed.step_s(r, decoding=8, prefill=2000, context=context) - speed.step_s(
        r, decoding=8, prefill=0, context=context
    )
    share = capacity.prefill_share(r, traffic, concurrency=8, requests_per_s=0.5)
    assert share == pytest.approx(min(0.95, 4 * extra * 0.5), rel=1e-9)
    # MoE or dense, the prompts' share never vanishes while prompts cost compute.
    assert share > 0.05


def test_the_autoscaler_target_is_the_planned_load_in_flight() -> None:
    plan = _plan(workload={"requests_per_s": 10})
    perf = plan.performance
    assert perf is not None
    assert plan.autoscaling.signal == "vllm:num_requests_running"
    assert plan.autoscaling.target == max(
        1, math.floor(perf.capacity_concurrency * perf.load_share)
    )
    assert plan.autoscaling.max_replicas >= 2 * perf.replicas_needed


def test_an_unmeetable_target_reports_the_best_and_where() -> None:
    with pytest.raises(InvalidInputError) as caught:
        _plan(workload={"ttft_ms": 1})
    message = caught.value.message
    assert message.startswith("No GPU option meets the latency target: ttft_ms 1:")
    assert "the fastest first token is" in message
    assert " on " in message
    assert "`workload.ttft_ms`" in (caught.value.hint or "")


def test_a_profile_target_no_option_meets_warns_and_plans_the_fastest() -> None:
    """Code completion (400 ms TTFT, tightened to 200 ms at Best) on a 405B model."""
    plan = _plan("llama-3.1-405b", tier="best", workload={"profile": "code"})
    assert plan.performance is not None
    if not plan.performance.meets_targets:
        assert any("profile's targets" in w for w in plan.warnings)


def test_good_is_cheaper_per_hour_than_better_and_best_is_fastest() -> None:
    good, better, best = (_plan(tier=t) for t in ("good", "better", "best"))
    assert good.cost.usd_per_hour_total is not None
    assert better.cost.usd_per_hour_total is not None
    assert good.cost.usd_per_hour_total <= better.cost.usd_per_hour_total
    assert best.performance
    assert better.performance
    assert best.performance.tpot_ms <= better.performance.tpot_ms


def test_llama_8b_chat_better_lands_on_an_inference_class_gpu() -> None:
    """The issue's case: an 8B chat model on an L4/L40S/A10-class GPU, not an H200."""
    plan = _plan(tier="better", cloud="aws")
    assert plan.gpu in ("L4", "L40S", "A10G")
    assert plan.cost.usd_per_hour_replica is not None
    assert plan.cost.usd_per_hour_replica < 3


def test_the_plans_by_workload_table_is_what_the_planner_decides() -> None:
    """docs/plans-by-workload.md: a sample of its rows re-planned (scripts/planning_table.py)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(root / "scripts" / "planning_table.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_p95_wait_is_the_exponential_tail_of_the_mean_wait() -> None:
    """M/G/1: no wait with probability 1 − ρ, else exponential with mean W/ρ; so the 95th
    percentile of the wait is (W/ρ)·ln(ρ/0.05). Checked by hand at ρ = 0.5."""
    plan = _plan(gpu="L40S", gpu_count=1)
    r = _replica(plan)
    traffic = workloads.resolve(
        WorkloadSpec(input_tokens=1000, input_tokens_p90=1000), tiers.get("better")
    )
    load = speed.Workload(1000, 250)
    top = speed.at_concurrency(r, load, speed.admitted(r, load)).requests_per_s
    got = speed.at_rate(r, load, top / 2)
    tail = capacity.tail(r, traffic, got, capacity_rps=top)
    mean_wait = speed.queue_wait_s(rate=top / 2, capacity=top)
    alone_prompt = speed.at_concurrency(r, speed.Workload(1000, 250), max(got.concurrency, 1))
    expected = alone_prompt.ttft_s + mean_wait / 0.5 * math.log(0.5 / 0.05)
    assert tail.ttft_s == pytest.approx(expected, rel=1e-6)
    assert tail.ttft_s > got.ttft_s  # the tail is slower than the mean


def test_a_p95_target_binds_before_the_mean_one() -> None:
    mean_only = _plan(gpu="L40S", gpu_count=1, workload={"requests_per_s": 10, "ttft_ms": 1000})
    with_tail = _plan(
        gpu="L40S",
        gpu_count=1,
        workload={"requests_per_s": 10, "ttft_ms": 1000, "ttft_p95_ms": 1000},
    )
    assert mean_only.performance is not None
    assert with_tail.performance is not None
    assert with_tail.performance.limit == "the TTFT p95 target"
    assert (
        with_tail.performance.capacity_requests_per_s
        < mean_only.performance.capacity_requests_per_s
    )
    assert with_tail.performance.ttft_p95_ms <= 1000
    assert "TTFT p95 ≤ 1,000 ms" in with_tail.performance.targets


def test_arrivals_at_a_concurrencys_rate_are_at_rate_at_that_rate() -> None:
    """The capacity search walks requests in flight and calls ``speed.arriving``; it must give
    what ``speed.at_rate`` gives at the rate that many requests in flight carry."""
    plan = _plan(gpu="L40S", gpu_count=1)
    r = _replica(plan)
    load = speed.Workload(1000, 250)
    top = speed.at_concurrency(r, load, speed.admitted(r, load)).requests_per_s
    for n in (2.0, 16.0, 48.0):
        rate = speed.at_concurrency(r, load, n).requests_per_s
        walked = speed.arriving(r, load, n, capacity=top)
        searched = speed.at_rate(r, load, rate)
        assert walked.ttft_s == pytest.approx(searched.ttft_s, rel=1e-3)
        assert walked.tpot_s == pytest.approx(searched.tpot_s, rel=1e-3)


@pytest.mark.parametrize(
    ("tier", "version", "mode"),
    [
        ("good", "0.19.0", "throughput"),
        ("better", "0.19.0", None),  # balanced is vLLM's default: no flag
        ("best", "0.19.0", "interactivity"),
        ("good", "0.16.0", None),  # --performance-mode came with vLLM 0.17
    ],
)
def test_the_tier_intent_is_vllms_performance_mode(
    tier: str, version: str, mode: str | None
) -> None:
    from kubefoundry.runtimes.common import engine

    plan = _plan(tier=tier, vllm_version=version)
    assert plan.performance_mode == mode
    args = engine.args(plan)
    if mode is None:
        assert "--performance-mode" not in args
    else:
        assert args[args.index("--performance-mode") + 1] == mode
