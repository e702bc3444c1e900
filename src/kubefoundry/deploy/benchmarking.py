"""A short, bounded load run against a deployment, measured beside the plan's predictions: the
use case behind ``kubefoundry bench``.

- **Load**: ``requests`` chat completions, ``concurrency`` at a time, spread over the
  deployment's serving pods (``inference.endpoints``), each with the workload profile's mean
  prompt and output lengths (a prompt of that many words; ``max_tokens`` the output length).
  Streamed, so each request gives its time to first token and its time per output token.
- **Measured**: output tokens per second over the run (all of them, over its wall time),
  requests per second, TTFT and TPOT medians and 95th percentiles, failures.
- **Predicted**: the speed model's figures for the deployment's spec planned again on this
  cluster (``plan.performance``): one request alone on an idle replica, and the plan's peak
  load; the closer one to the run's concurrency is the comparison. Shown, not judged: the
  point is to see how far the model is from this cluster.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import statistics
import threading
import time
from collections.abc import Callable, Sequence

from kubefoundry.cluster.connecting import Connection
from kubefoundry.core.errors import KubeFoundryError
from kubefoundry.deploy import inference
from kubefoundry.planning import workloads
from kubefoundry.planning.plans import Performance

REQUESTS = 20
CONCURRENCY = 4


@dataclasses.dataclass(frozen=True)
class Run:
    requests: int
    failed: int
    concurrency: int
    wall_s: float
    output_tokens: int
    ttft_s: tuple[float, ...]  # per request that produced a token
    tpot_s: tuple[float, ...]  # per request that produced two tokens or more
    errors: tuple[str, ...]  # the distinct failure messages

    @property
    def output_tokens_per_s(self) -> float:
        return self.output_tokens / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def requests_per_s(self) -> float:
        return (self.requests - self.failed) / self.wall_s if self.wall_s > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the comparison: measured, and the model's alone and at the plan's peak."""

    figure: str
    unit: str
    measured: float | None
    alone: float | None
    peak: float | None


def run(
    conn: Connection,
    ends: Sequence[inference.Endpoint],
    *,
    profile: workloads.Profile,
    requests: int = REQUESTS,
    concurrency: int = CONCURRENCY,
    clock: Callable[[], float] = time.monotonic,
    on_done: Callable[[int], None] = lambda _: None,
) -> Run:
    """Send the load; ``on_done(n)`` after each request (progress)."""
    prompt = " ".join(["hello"] * max(1, profile.input_tokens))
    messages = [{"role": "user", "content": prompt}]
    stats: list[inference.Stats] = []
    errors: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        where = ends[i % len(ends)]
        try:
            *_, last = inference.chat(
                conn, where, messages, max_tokens=profile.output_tokens, clock=clock
            )
        except KubeFoundryError as err:
            with lock:
                errors.append(err.message.splitlines()[0])
                on_done(len(stats) + len(errors))
            return
        with lock:
            if isinstance(last, inference.Stats):
                stats.append(last)
            on_done(len(stats) + len(errors))

    began = clock()
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(requests)))
    wall = clock() - began
    ttft = tuple(s.ttft_s for s in stats if s.ttft_s is not None)
    tpot = tuple(
        (s.duration_s - s.ttft_s) / (s.output_tokens - 1)
        for s in stats
        if s.ttft_s is not None and s.output_tokens >= 2
    )
    return Run(
        requests=requests,
        failed=len(errors),
        concurrency=concurrency,
        wall_s=wall,
        output_tokens=sum(s.output_tokens for s in stats),
        ttft_s=ttft,
        tpot_s=tpot,
        errors=tuple(sorted(set(errors))),
    )


def compare(done: Run, performance: Performance | None, *, replicas: int) -> list[Row]:
    """The run's figures beside the speed model's (milliseconds, tokens and requests per
    second for the whole deployment)."""
    p = performance
    rows = [
        Row(
            "output tokens/s",
            "tok/s",
            done.output_tokens_per_s,
            None if p is None else 1000.0 / p.tpot_ms_alone,
            None if p is None else p.output_tokens_per_s * replicas,
        ),
        Row(
            "requests/s",
            "req/s",
            done.requests_per_s,
            None,
            None if p is None else p.requests_per_s * replicas,
        ),
        # The speed model gives a mean and a 95th percentile; the run's median stands beside
        # the mean (the row says so).
        Row(
            "TTFT p50 (model: mean)",
            "ms",
            _ms(_pct(done.ttft_s, 50)),
            _alone(p, "ttft"),
            _peak(p, "ttft"),
        ),
        Row("TTFT p95", "ms", _ms(_pct(done.ttft_s, 95)), None, _peak(p, "ttft", p95=True)),
        Row(
            "TPOT p50 (model: mean)",
            "ms",
            _ms(_pct(done.tpot_s, 50)),
            _alone(p, "tpot"),
            _peak(p, "tpot"),
        ),
        Row("TPOT p95", "ms", _ms(_pct(done.tpot_s, 95)), None, _peak(p, "tpot", p95=True)),
    ]
    return rows


def _pct(values: Sequence[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def _alone(p: Performance | None, what: str) -> float | None:
    return None if p is None else float(getattr(p, f"{what}_ms_alone"))


def _peak(p: Performance | None, what: str, *, p95: bool = False) -> float | None:
    return None if p is None else float(getattr(p, f"{what}_p95_ms" if p95 else f"{what}_ms"))
