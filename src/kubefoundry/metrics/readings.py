"""Two snapshots make a :class:`Reading`: levels, rates per second and latency percentiles.

Counters become rates over the interval between two snapshots, series by series: a value
lower than before is a restart (the counter counts again from zero, so the new value is the
increase), and a series that was not there before started within the interval. Histograms
are differenced the same way, merged over series, and read as percentiles the way
Prometheus' ``histogram_quantile`` does: linear within the bucket that holds the rank, the
highest finite bound when the rank falls in the +Inf bucket.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

from kubefoundry.metrics.parsing import Histogram, SeriesKey, Snapshot

Buckets = tuple[tuple[float, float], ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Percentiles:
    p50: float | None
    p90: float | None
    p99: float | None
    count: float  # observations in the interval


@dataclasses.dataclass(frozen=True, slots=True)
class Reading:
    """One interval of one deployment (or pod). None: the server does not expose it, or no
    interval yet (rates and percentiles need two snapshots)."""

    at: float
    interval_s: float | None
    servers: frozenset[str]
    pods: int  # whose metrics were read
    running: float | None
    waiting: float | None
    kv_usage: float | None  # 0..1
    ready_pods: float | None
    prompt_tps: float | None  # prompt tokens per second
    output_tps: float | None
    requests_per_s: float | None
    errors_per_s: float | None
    preemptions_per_s: float | None
    prefix_hit_ratio: float | None  # 0..1
    ttft: Percentiles | None  # seconds
    itl: Percentiles | None
    e2e: Percentiles | None
    # Set by whoever knows the pods (deploy/monitoring): the GPUs they hold, and those of
    # pods with a request running at the reading.
    gpus: int | None = None
    busy_gpus: int | None = None


def reading(previous: Snapshot | None, now: Snapshot) -> Reading:
    interval = now.at - previous.at if previous is not None and now.at > previous.at else None

    def rate(quantity: str) -> float | None:
        if interval is None or previous is None or quantity not in now.values:
            return None
        return increase(previous.values.get(quantity, {}), now.values[quantity]) / interval

    def percentiles(quantity: str) -> Percentiles | None:
        if interval is None or previous is None or quantity not in now.histograms:
            return None
        merged = histogram_increase(previous.histograms.get(quantity, {}), now.histograms[quantity])
        return _percentiles(merged)

    return Reading(
        at=now.at,
        interval_s=interval,
        servers=now.servers,
        pods=now.origins,
        running=level(now, "running"),
        waiting=level(now, "waiting"),
        kv_usage=level(now, "kv_usage"),
        ready_pods=level(now, "ready_pods"),
        prompt_tps=rate("prompt_tokens"),
        output_tps=rate("output_tokens"),
        requests_per_s=rate("requests"),
        errors_per_s=rate("errors"),
        preemptions_per_s=rate("preemptions"),
        prefix_hit_ratio=_hit_ratio(now, rate("prefix_hits"), rate("prefix_queries")),
        ttft=percentiles("ttft"),
        itl=percentiles("itl"),
        e2e=percentiles("e2e"),
    )


def level(snapshot: Snapshot, quantity: str) -> float | None:
    """A gauge now: the sum of its series, or their mean where the vocabulary says so."""
    series = snapshot.values.get(quantity)
    if series is None:
        return None
    if not series:
        return 0.0 if snapshot.combine.get(quantity) != "mean" else None
    total = math.fsum(series.values())
    return total / len(series) if snapshot.combine.get(quantity) == "mean" else total


def increase(before: Mapping[SeriesKey, float], now: Mapping[SeriesKey, float]) -> float:
    """How much counters grew, restarts included (a series that went down restarted)."""
    total = 0.0
    for key, value in now.items():
        old = before.get(key)
        total += value if old is None or value < old else value - old
    return total


def histogram_increase(
    before: Mapping[SeriesKey, Histogram], now: Mapping[SeriesKey, Histogram]
) -> Buckets:
    """The observations added to every series, merged into one set of cumulative buckets
    (the bounds every series has)."""
    added: dict[float, float] = defaultdict(float)
    bounds: set[float] | None = None
    for key, hist in now.items():
        old = before.get(key)
        grew = _grew(old, hist)
        for le, count in grew:
            added[le] += count
        own = {le for le, _ in grew}
        bounds = own if bounds is None else bounds & own
    return tuple(sorted((le, added[le]) for le in bounds or ()))


def _grew(old: Histogram | None, new: Histogram) -> Buckets:
    if (
        old is None
        or new.count < old.count
        or [b for b, _ in old.buckets] != [b for b, _ in new.buckets]
    ):
        return new.buckets  # new series, restarted, or re-bucketed: all of it is new
    return tuple((le, c - o) for (le, c), (_, o) in zip(new.buckets, old.buckets, strict=True))


def quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """Prometheus' ``histogram_quantile`` over cumulative ``buckets`` (ascending, +Inf last)."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for le, count in buckets:
        if count >= rank and count > below:
            if math.isinf(le):
                return lower
            if le <= 0:
                return le
            return lower + (le - lower) * (rank - below) / (count - below)
        lower, below = le, count
    return lower


def _percentiles(buckets: Buckets) -> Percentiles:
    count = buckets[-1][1] if buckets else 0.0
    return Percentiles(
        p50=quantile(0.5, buckets),
        p90=quantile(0.9, buckets),
        p99=quantile(0.99, buckets),
        count=count,
    )


def _hit_ratio(now: Snapshot, hits: float | None, queries: float | None) -> float | None:
    if hits is not None and queries is not None:
        return hits / queries if queries > 0 else None
    return level(now, "prefix_hit_ratio")
