"""The pure parts of chat and bench: server-sent events, the decode rate, and the comparison
with the speed model (figures by hand)."""

from __future__ import annotations

import pytest

from kubefoundry.core.errors import PermanentError
from kubefoundry.deploy import benchmarking, inference


def test_events_until_done_and_errors_raise() -> None:
    lines = [
        'data: {"choices":[{"delta":{"role":"assistant"}}]}',
        "",
        ": a comment",
        'data: {"choices":[{"delta":{"content":"Hel"}}]}',
        "data: not json",
        'data: {"choices":[],"usage":{"completion_tokens":2,"prompt_tokens":5}}',
        "data: [DONE]",
        'data: {"choices":[{"delta":{"content":"after the end"}}]}',
    ]
    got = list(inference._events(iter(lines)))
    assert [e.get("usage") for e in got] == [
        None,
        None,
        {"completion_tokens": 2, "prompt_tokens": 5},
    ]
    with pytest.raises(PermanentError, match=r"The model server said: .*overloaded"):
        list(inference._events(iter(['data: {"error": {"message": "overloaded"}}'])))


def test_decode_rate_counts_the_tokens_after_the_first() -> None:
    # 11 tokens: the first at 0.2 s, the last at 1.2 s -> 10 tokens in 1.0 s.
    stats = inference.Stats(ttft_s=0.2, output_tokens=11, duration_s=1.2, prompt_tokens=5)
    assert stats.decode_tokens_per_s == pytest.approx(10.0)
    assert inference.Stats(0.2, 1, 0.2, None).decode_tokens_per_s is None


def test_bench_rows_beside_the_speed_model() -> None:
    run = benchmarking.Run(
        requests=4, failed=0, concurrency=2, wall_s=2.0, output_tokens=400,
        ttft_s=(0.1, 0.2, 0.3, 0.4), tpot_s=(0.01, 0.01, 0.02, 0.02), errors=(),
    )  # fmt: skip
    rows = {r.figure: r for r in benchmarking.compare(run, None, replicas=2)}
    assert rows["output tokens/s"].measured == pytest.approx(200.0)
    assert rows["requests/s"].measured == pytest.approx(2.0)
    # Inclusive percentiles of (100, 200, 300, 400) ms: the median 250, the 95th 385.
    assert rows["TTFT p50 (model: mean)"].measured == pytest.approx(250.0)
    assert rows["TTFT p95"].measured == pytest.approx(385.0)
    assert all(r.alone is None and r.peak is None for r in rows.values())  # no plan
