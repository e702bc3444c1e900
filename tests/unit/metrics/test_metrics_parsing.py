"""The metrics parser on real /metrics samples of each server (``tests/fixtures/metrics``,
origins in its SOURCES.md and each file's first lines). Expected figures are the files'
own numbers, read by eye, and percentiles worked by hand with Prometheus' rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubefoundry.core.errors import PermanentError
from kubefoundry.metrics import parsing, readings, vocabulary

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "metrics"


def _first_reading(name: str) -> readings.Reading:
    """The fixture's counters as grown from nothing over 10 s (a pod new since the last
    refresh: every series counts from zero)."""
    text = (FIXTURES / name).read_text()
    return readings.reading(parsing.parse("", at=0.0), parsing.parse(text, at=10.0, origin="p"))


def test_every_fixture_names_its_origin_and_is_recognised_as_its_server() -> None:
    expected = {
        "vllm.prom": "vllm",
        "sglang.prom": "sglang",
        "llm-d-epp.prom": "llm-d-epp",
        "llm-d-epp-requests.prom": "llm-d-epp",
        "tgi.prom": "tgi",
        "dynamo-frontend.prom": "dynamo-frontend",
    }
    for name, server in expected.items():
        text = (FIXTURES / name).read_text()
        assert text.startswith("# origin: "), name
        assert "# server version: " in text.split("\n# HELP", 1)[0], name
        assert parsing.parse(text, at=0.0).servers == {server}, name


def test_vllm_v1_sample() -> None:
    # Qwen2.5-3B-Instruct after 24 requests: 228 prompt tokens, 2502 generated, 8 stopped and
    # 16 cut at max length, none aborted; 228 prefix-cache lookups, no hit; idle now.
    r = _first_reading("vllm.prom")
    assert (r.running, r.waiting, r.kv_usage) == (0.0, 0.0, 0.0)
    assert r.prompt_tps == pytest.approx(22.8)
    assert r.output_tps == pytest.approx(250.2)
    assert r.requests_per_s == pytest.approx(2.4)
    assert r.errors_per_s == 0.0  # aborts are its only failures, and there were none
    assert r.preemptions_per_s == 0.0
    assert r.prefix_hit_ratio == 0.0
    # TTFT: 0 observations up to 20 ms, 23 up to 40 ms, 24 up to 60 ms. p50: rank 12 lies in
    # (0.02, 0.04]: 0.02 + 0.02 * 12/23. p99: rank 23.76 in (0.04, 0.06]: 0.04 + 0.02 * 0.76.
    assert r.ttft is not None
    assert r.ttft.count == 24
    assert r.ttft.p50 == pytest.approx(0.02 + 0.02 * 12 / 23)
    assert r.ttft.p99 == pytest.approx(0.04 + 0.02 * 0.76)
    assert r.itl is not None  # vllm:inter_token_latency_seconds (0.11's name)
    assert r.itl.count > 0
    assert r.e2e is not None
    assert r.e2e.count == 24


def test_sglang_sample_under_load() -> None:
    # Llama-3.1-8B under load: 162 running, 2826 queued, 28 % of KV tokens in use; its only
    # prefix-cache figure is a gauge of the last prefill batch (0.0075).
    r = _first_reading("sglang.prom")
    assert (r.running, r.waiting, r.kv_usage) == (162.0, 2826.0, 0.28)
    assert r.prefix_hit_ratio == pytest.approx(0.007507552643049313)
    assert r.prompt_tps == pytest.approx(812890.2)
    assert r.output_tps == pytest.approx(755757.2)
    # Not exposed by this release: None, never 0.
    assert (r.requests_per_s, r.errors_per_s, r.preemptions_per_s) == (None, None, None)
    # TTFT: 2513 of 11008 within 30 s, the last finite bound, so p50 and p99 (ranks 5504 and
    # 10898) fall in the +Inf bucket: Prometheus answers the highest finite bound, 30 s.
    assert r.ttft is not None
    assert (r.ttft.count, r.ttft.p50, r.ttft.p99) == (11008.0, 30.0, 30.0)
    assert r.itl is not None  # the older name, time_per_output_token_seconds


def test_tgi_sample() -> None:
    # 111 requests, 109 succeeded, 2 failed validation; 662 prompt and 3423 generated tokens
    # (the sums of its per-request length histograms); idle now. No KV or TTFT figure at all.
    r = _first_reading("tgi.prom")
    assert (r.running, r.waiting) == (0.0, 0.0)
    assert (r.requests_per_s, r.errors_per_s) == (pytest.approx(11.1), pytest.approx(0.2))
    assert (r.prompt_tps, r.output_tps) == (pytest.approx(66.2), pytest.approx(342.3))
    assert (r.kv_usage, r.ttft) == (None, None)
    assert r.itl is not None
    assert r.itl.count == 109
    assert r.e2e is not None


def test_dynamo_frontend_sample() -> None:
    # One chat request of 33 prompt tokens and 300 output tokens; its first token between
    # 1 and 2.2 s: p50 at rank 0.5 is 1 + 1.2 * 0.5.
    r = _first_reading("dynamo-frontend.prom")
    assert (r.requests_per_s, r.errors_per_s) == (pytest.approx(0.1), 0.0)
    assert (r.prompt_tps, r.output_tps) == (pytest.approx(3.3), pytest.approx(30.0))
    assert r.ttft is not None
    assert r.ttft.p50 == pytest.approx(1.6)
    assert r.kv_usage is None  # only the workers know it


def test_ray_serve_llm_names_from_its_source() -> None:
    """No whole real scrape of Ray Serve LLM was found (``ray-serve-llm.names.md``): this text
    is BUILT from the names and types Ray 2.52 / vLLM 0.11 define, in both counter forms Ray
    exposes (a gauge without _total on 2.52, NAME_total before)."""
    labels = 'model_name="m",engine="0",WorkerId="w"'
    ray_252 = (
        f"# TYPE ray_vllm_num_requests_running gauge\nray_vllm_num_requests_running{{{labels}}} 4\n"
        f"# TYPE ray_vllm_prompt_tokens gauge\nray_vllm_prompt_tokens{{{labels}}} 1000\n"
    )
    older = (
        f"# TYPE ray_vllm_num_requests_running gauge\nray_vllm_num_requests_running{{{labels}}} 4\n"
        "# TYPE ray_vllm_prompt_tokens_total counter\n"
        f"ray_vllm_prompt_tokens_total{{{labels}}} 1000\n"
    )
    for text in (ray_252, older):
        r = readings.reading(parsing.parse("", at=0.0), parsing.parse(text, at=10.0))
        assert r.servers == {"ray-serve-llm"}
        assert (r.running, r.prompt_tps) == (4.0, pytest.approx(100.0))


def test_endpoint_picker_samples() -> None:
    # Run here against the sandbox: two model-server pods listed, none ready by its metrics.
    live = _first_reading("llm-d-epp.prom")
    assert (live.waiting, live.ready_pods) == (0.0, 0.0)
    assert live.requests_per_s is None  # no request went through it: no series at all
    # Its own tests' exposition: objectives m10/m20 with 2+1+1 requests, 3 errors, token
    # histograms; pool p1 at 30 % KV.
    r = _first_reading("llm-d-epp-requests.prom")
    assert r.kv_usage == pytest.approx(0.3)
    assert r.requests_per_s == pytest.approx(0.4)
    assert r.running == 2.0
    assert r.ttft is None  # recorded only by the predicted-latency plugin
    assert r.e2e is not None
    assert r.e2e.count == 4


def test_text_that_is_not_prometheus_format_is_a_clear_error() -> None:
    with pytest.raises(PermanentError, match="metrics from pod-a are not Prometheus text"):
        parsing.parse('vllm:num_requests_running{engine="0" 1\n', at=0.0, origin="pod-a")


def test_text_of_an_unknown_server_has_no_quantities() -> None:
    snap = parsing.parse("# TYPE up gauge\nup 1\n", at=0.0)
    assert snap.servers == frozenset()
    assert readings.reading(None, snap).running is None


def test_a_renamed_metric_is_read_under_its_older_name() -> None:
    # vLLM before 0.10: gpu_cache_usage_perc (the same 0..1 ratio).
    text = (
        "vllm:num_requests_running 3\n"
        'vllm:gpu_cache_usage_perc{engine="0"} 0.5\n'
        'vllm:gpu_cache_usage_perc{engine="1"} 0.25\n'
    )
    r = readings.reading(None, parsing.parse(text, at=0.0))
    assert r.kv_usage == pytest.approx(0.375)  # the mean over engines, not the sum
    assert r.running == 3.0


def test_the_vocabulary_file_loads_and_refuses_mistakes() -> None:
    words = vocabulary.load()
    assert {"vllm", "sglang", "llm-d-epp"} <= set(words.servers)
    bad = {
        "schema": 1,
        "servers": {"x": {"label": "X", "detect": ["x"], "series": {"ttft": [{"gauge": "x"}]}}},
    }
    with pytest.raises(Exception, match=r"x\.ttft: a histogram cannot be read from a gauge"):
        vocabulary.parse(bad)
