"""Rates and percentiles between two snapshots: counter restarts, new and vanished series,
several pods merged, and Prometheus' histogram_quantile worked by hand."""

from __future__ import annotations

import math

import pytest

from kubefoundry.metrics import history, parsing, readings


def _vllm(
    running: float, prompt: float, *, pod: str, at: float, buckets: str = ""
) -> parsing.Snapshot:
    text = f"vllm:num_requests_running {running}\nvllm:prompt_tokens_total {prompt}\n" + buckets
    return parsing.parse(text, at=at, origin=pod)


def _ttft(counts: tuple[float, float, float]) -> str:
    """A TTFT histogram with bounds 0.1, 1 and +Inf and these cumulative counts."""
    b01, b1, inf = counts
    return (
        f'vllm:time_to_first_token_seconds_bucket{{le="0.1"}} {b01}\n'
        f'vllm:time_to_first_token_seconds_bucket{{le="1.0"}} {b1}\n'
        f'vllm:time_to_first_token_seconds_bucket{{le="+Inf"}} {inf}\n'
        f"vllm:time_to_first_token_seconds_count {inf}\n"
        "vllm:time_to_first_token_seconds_sum 0\n"
    )


@pytest.mark.parametrize(
    ("before", "now", "grew"),
    [
        (100.0, 160.0, 60.0),  # counting up
        (100.0, 40.0, 40.0),  # restarted: counts again from 0, so 40 is what it did since
        (100.0, 100.0, 0.0),  # idle
    ],
)
def test_a_counter_rate_survives_a_restart(before: float, now: float, grew: float) -> None:
    r = readings.reading(_vllm(0, before, pod="a", at=0.0), _vllm(0, now, pod="a", at=20.0))
    assert r.prompt_tps == pytest.approx(grew / 20.0)


def test_pods_are_merged_and_each_keeps_its_own_counter() -> None:
    # Pod a grows 100 -> 150; pod b restarted (500 -> 30); pod c is new (counts 10 since);
    # pod d went away (it adds nothing). Running is a sum of levels.
    before = parsing.merge(
        [_vllm(1, 100, pod="a", at=0), _vllm(2, 500, pod="b", at=0), _vllm(9, 7, pod="d", at=0)],
        at=0.0,
    )
    now = parsing.merge(
        [_vllm(3, 150, pod="a", at=5), _vllm(4, 30, pod="b", at=5), _vllm(1, 10, pod="c", at=5)],
        at=5.0,
    )
    r = readings.reading(before, now)
    assert r.running == 8.0
    assert r.prompt_tps == pytest.approx((50 + 30 + 10) / 5.0)


def test_histogram_percentiles_over_the_interval_only() -> None:
    # Before: 10 fast requests. Over the interval: 10 more, 2 within 0.1 s, 8 within 1 s.
    # Cumulative increase: (2, 10, 10). p50: rank 5 in (0.1, 1]: 0.1 + 0.9 * (5-2)/(10-2).
    before = _vllm(0, 0, pod="a", at=0.0, buckets=_ttft((10, 10, 10)))
    now = _vllm(0, 0, pod="a", at=10.0, buckets=_ttft((12, 20, 20)))
    r = readings.reading(before, now)
    assert r.ttft is not None
    assert r.ttft.count == 10
    assert r.ttft.p50 == pytest.approx(0.1 + 0.9 * 3 / 8)
    # A restarted histogram (count went down) counts from zero: all of it is new.
    restarted = _vllm(0, 0, pod="a", at=20.0, buckets=_ttft((1, 3, 4)))
    again = readings.reading(now, restarted)
    assert again.ttft is not None
    assert again.ttft.count == 4
    # p99: rank 3.96 in the +Inf bucket: the highest finite bound.
    assert again.ttft.p99 == 1.0


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        (0.5, ((1.0, 2.0), (2.0, 4.0), (math.inf, 4.0)), 1.0),  # rank 2: top of bucket 1
        (0.25, ((1.0, 2.0), (2.0, 4.0), (math.inf, 4.0)), 0.5),  # within the first, from 0
        (0.75, ((1.0, 2.0), (2.0, 4.0), (math.inf, 4.0)), 1.5),
        (0.9, ((1.0, 0.0), (math.inf, 5.0)), 1.0),  # all above the last bound
        (0.5, ((1.0, 0.0), (math.inf, 0.0)), None),  # no observation
        (0.5, (), None),
    ],
)
def test_quantile_follows_prometheus(
    q: float, buckets: tuple[tuple[float, float], ...], expected: float | None
) -> None:
    assert readings.quantile(q, buckets) == expected


def test_a_missing_series_is_none_and_the_first_snapshot_has_levels_only() -> None:
    first = readings.reading(None, _vllm(2, 100, pod="a", at=0.0))
    assert first.running == 2.0
    assert first.prompt_tps is None
    assert first.interval_s is None
    assert first.ttft is None  # no histogram in this text at all
    assert first.kv_usage is None  # not exposed


def test_history_keeps_one_window_per_deployment() -> None:
    kept = history.Histories(window_s=60.0)
    for t in range(0, 300, 15):
        kept.observe("ns/a", _vllm(1, t * 10.0, pod="a", at=float(t)))
    got = kept.readings("ns/a")
    assert [r.at for r in got] == [225.0, 240.0, 255.0, 270.0, 285.0]
    assert all(r.prompt_tps == pytest.approx(10.0) for r in got)
    kept.observe("ns/b", _vllm(1, 0.0, pod="b", at=1000.0))
    assert list(kept.keys()) == ["ns/b"]  # a deployment unseen for a window is forgotten
