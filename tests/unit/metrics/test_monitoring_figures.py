"""Which of a pod's ports ``top`` asks for /metrics first, and its cost figures."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from kubefoundry.core import identity
from kubefoundry.deploy import monitoring
from kubefoundry.metrics import history, parsing, readings


def _pod(*ports: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "c", "ports": list(ports)}]}}


def test_the_metrics_port_first_then_http_and_never_grpc() -> None:
    ray_head = _pod(
        {"name": "serve", "containerPort": 8000},
        {"name": "dashboard", "containerPort": 8265},
        {"name": "metrics", "containerPort": 8080},
    )
    assert monitoring.candidates(ray_head) == [8080, 8000, 8265]
    picker = _pod(
        {"name": "grpc", "containerPort": 9002},
        {"name": "grpc-health", "containerPort": 9003},
        {"name": "metrics", "containerPort": 9090},
    )
    assert monitoring.candidates(picker) == [9090]
    vllm = _pod({"name": "http", "containerPort": 8000}, {"containerPort": 5557, "protocol": "UDP"})
    assert monitoring.candidates(vllm) == [8000]
    assert monitoring.candidates({"spec": {"containers": [{"name": "c"}]}}) == []


def _observed(
    *, gpus: int, output_tps: float | None, plan: identity.PlanSummary, busy: int = 0
) -> Any:
    reading = readings.reading(None, parsing.parse("", at=0.0))
    reading = dataclasses.replace(reading, output_tps=output_tps, gpus=gpus, busy_gpus=busy)
    return monitoring.Observed(
        namespace="ns", name="d", reading=reading, pods=1, scraped=1, problems={}, plan=plan
    )


def test_cost_now_and_per_million_tokens_by_hand() -> None:
    # Planned: 2 replicas of 2xL4 for $4.00/h (whole nodes), 406.4 output tok/s at the peak.
    plan = identity.PlanSummary(gpu="2xL4", replicas=2, usd_per_hour=4.0, output_tokens_per_s=406.4)
    # Scaled in to one replica (2 of 4 GPUs), serving 100 output tokens/s now.
    o = _observed(gpus=2, output_tps=100.0, plan=plan)
    assert o.usd_per_hour == pytest.approx(2.0)  # half the GPUs, half the bill
    # $2/h over 100 tok/s x 3600 s = 360,000 tokens an hour: $5.5556 per 1M.
    assert o.usd_per_million_output_tokens == pytest.approx(2.0 / 0.36)
    # The plan: $4/h over 406.4 x 3600 = 1,463,040 tokens an hour: $2.734 per 1M.
    assert o.planned_usd_per_million_output_tokens == pytest.approx(4.0 / 1.46304)
    assert o.goodput_tokens_per_gpu_hour == pytest.approx(100.0 * 3600 / 2)
    idle = _observed(gpus=2, output_tps=0.0, plan=plan)
    assert idle.usd_per_million_output_tokens is None  # nothing served: no price per token
    unpriced = _observed(gpus=2, output_tps=1.0, plan=identity.PlanSummary(gpu="2xL4", replicas=2))
    assert (unpriced.usd_per_hour, unpriced.planned_usd_per_million_output_tokens) == (None, None)


def test_the_bill_splits_between_input_and_output_as_the_plan_splits_it_by_hand() -> None:
    # The plan: $4/h; its prompts take a quarter of a replica's time; at its peak 406.4
    # output and 1,625.6 prompt tokens/s.
    plan = identity.PlanSummary(
        gpu="2xL4",
        replicas=2,
        usd_per_hour=4.0,
        output_tokens_per_s=406.4,
        input_tokens_per_s=1625.6,
        prefill_share=0.25,
    )
    o = _observed(gpus=4, output_tps=100.0, plan=plan)
    o = dataclasses.replace(o, reading=dataclasses.replace(o.reading, prompt_tps=400.0))
    # $3/h on output over 360,000 tokens an hour: $8.3333 per 1M.
    assert o.usd_per_million_output_tokens == pytest.approx(3.0 / 0.36)
    # $1/h on input over 400 x 3600 = 1,440,000 prompt tokens an hour: $0.6944 per 1M.
    assert o.usd_per_million_input_tokens == pytest.approx(1.0 / 1.44)
    assert o.planned_usd_per_million_output_tokens == pytest.approx(3.0 / 1.46304)
    assert o.planned_usd_per_million_input_tokens == pytest.approx(1.0 / (1625.6 * 0.0036))
    # Two of them: the output parts over the output, $6/h over 200 tok/s.
    t = monitoring.totals([o, o])
    assert t.usd_per_million_output_tokens == pytest.approx(6.0 / 0.72)


def test_cluster_totals_by_hand() -> None:
    # Two deployments: 4 GPUs at $4/h planned and all running, serving 200 tok/s, 2 busy;
    # 2 GPUs with no price, 100 tok/s, none busy.
    priced = identity.PlanSummary(gpu="2xL4", replicas=2, usd_per_hour=4.0)
    a = _observed(gpus=4, output_tps=200.0, plan=priced, busy=2)
    b = _observed(gpus=2, output_tps=100.0, plan=identity.PlanSummary(gpu="1xL4", replicas=2))
    t = monitoring.totals([a, b])
    assert (t.deployments, t.gpus, t.busy_gpus, t.unpriced) == (2, 6, 2, 1)
    assert t.output_tps == pytest.approx(300.0)
    assert t.goodput_tokens_per_gpu_hour == pytest.approx(300.0 * 3600 / 6)  # 180,000
    assert t.busy_share is None  # no interval kept yet
    assert t.usd_per_hour == pytest.approx(4.0)  # the unpriced one is left out, and counted
    # Per 1M output tokens: the priced one's bill over its own 200 tok/s, not all 300.
    assert t.usd_per_million_output_tokens == pytest.approx(4.0 / (200 * 3600) * 1e6)


def test_gpu_hours_busy_and_idle_over_the_history_by_hand() -> None:
    # One deployment, refreshed every 60 s: 4 GPUs throughout; 2 busy at the 2nd refresh,
    # 4 at the 3rd, none at the 4th. Intervals count from the 2nd reading: 3 x 60 s x 4 GPUs
    # = 0.2 GPU-h provisioned; busy (2 + 4 + 0) x 60 s = 0.1 GPU-h; half of it idle.
    kept = history.Histories()
    for i, busy in enumerate((0, 2, 4, 0)):
        snap = parsing.parse("vllm:num_requests_running 1\n", at=60.0 * i, origin="p")
        kept.observe("ns/d", snap, gpus=4, busy=busy)
    time = kept.gpu_time("ns/d")
    assert time.hours == pytest.approx(3 * 60 / 3600)
    assert time.gpu_hours == pytest.approx(3 * 60 * 4 / 3600)
    assert time.busy_gpu_hours == pytest.approx((2 + 4 + 0) * 60 / 3600)


def test_spent_and_saved_over_the_window_by_hand() -> None:
    # Planned: 2 replicas x 2 L4 = 4 GPUs for $4/h, $1 per GPU-hour. Over a 3-minute window
    # it ran 2 GPUs (scaled in to one replica): 0.1 GPU-h spent ($0.10); planned 4 x 0.05 h
    # = 0.2 GPU-h, so $0.10 saved.
    plan = identity.PlanSummary(gpu="2xL4", replicas=2, usd_per_hour=4.0)
    o = dataclasses.replace(
        _observed(gpus=2, output_tps=1.0, plan=plan), gpu_hours=0.1, window_hours=0.05
    )
    assert o.usd_per_gpu_hour == pytest.approx(1.0)
    assert o.spent_usd == pytest.approx(0.10)
    assert o.saved_usd == pytest.approx(0.10)


def test_the_cost_export_says_each_figure_once_per_deployment_and_leaves_unknowns_out() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    plan = identity.PlanSummary(
        model="Qwen/Qwen2.5-7B-Instruct",
        tier="better",
        gpu="2xL4",
        replicas=2,
        usd_per_hour=4.0,
        output_tokens_per_s=406.4,
    )
    scaled_in = _observed(gpus=2, output_tps=100.0, plan=plan, busy=2)
    unplanned = _observed(gpus=1, output_tps=None, plan=plan)
    unknown = dataclasses.replace(unplanned, name="e", plan=None)
    text = monitoring.exposition([scaled_in, unknown]).decode()
    got = {
        (s.name, s.labels["deployment"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    d = "kubefoundry_deployment_"
    assert got == {
        (f"{d}cost_usd_per_hour", "d"): pytest.approx(2.0),  # half the GPUs of $4/h
        (f"{d}planned_cost_usd_per_hour", "d"): 4.0,
        (f"{d}gpus", "d"): 2.0,
        (f"{d}gpus", "e"): 1.0,
        (f"{d}busy_gpus", "d"): 2.0,
        (f"{d}busy_gpus", "e"): 0.0,
        (f"{d}output_tokens_per_second", "d"): 100.0,
        (f"{d}cost_usd_per_million_output_tokens", "d"): pytest.approx(2.0 / 0.36),
        (f"{d}planned_cost_usd_per_million_output_tokens", "d"): pytest.approx(4.0 / 1.46304),
    }
    (sample,) = [
        s
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == f"{d}gpus" and s.labels["deployment"] == "d"
    ]
    assert sample.labels == {
        "namespace": "ns",
        "deployment": "d",
        "model": "Qwen/Qwen2.5-7B-Instruct",
        "tier": "better",
        "gpu": "2xL4",
    }


def test_spent_and_saved_since_start_by_hand() -> None:
    # 2 replicas planned at $4/h ($2 per replica-hour); 10 h old; ran 12 replica-hours
    # (scaled in to one for 8 h): spent $24, saved the 8 replica-hours not run, $16.
    since = monitoring.SinceStart(
        hours=10.0, replica_hours=12.0, planned_replicas=2, usd_per_replica_hour=2.0
    )
    assert (since.spent_usd, since.saved_usd) == (24.0, 16.0)
    # Scaled out above the plan: nothing saved, never negative.
    out = dataclasses.replace(since, replica_hours=30.0)
    assert (out.spent_usd, out.saved_usd) == (60.0, 0.0)
    unpriced = dataclasses.replace(since, usd_per_replica_hour=None)
    assert unpriced.to_dict() == {
        "hours": 10.0,
        "replica_hours": 12.0,
        "spent_usd": None,
        "saved_usd": None,
    }


def test_a_deployments_age_from_its_roots_creation_time() -> None:
    root = {"metadata": {"creationTimestamp": "2026-12-06T10:00:00Z"}}
    noon = 1796558400.0  # 2026-12-06T12:00:00Z
    assert monitoring.age_s(root, now=noon) == 7200.0
    assert monitoring.age_s({"metadata": {}}, now=noon) is None
