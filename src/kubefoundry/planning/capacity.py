"""How much of the workload one replica serves, how many replicas the peak needs, and what a
million tokens cost: the speed model (``planning/speed.py``) applied to a plan's traffic.

A replica's capacity is the load at which it still meets the latency targets, times the
tier's headroom (``load_share``: the share of that load the plan lets a replica run at, so a
burst or a slow request does not break the targets). The peak load divided by that capacity
is the replicas needed; the tier adds its minimum and spare replicas on top. Prices come from
whole nodes (``planning/nodes.py``); the bill is split between input and output tokens by the
share of a replica's time the prompts take.
"""

from __future__ import annotations

import dataclasses
import math

from kubefoundry.planning import speed
from kubefoundry.planning.workloads import Traffic

MAX_REPLICAS = 100  # the request's own limit on replicas
BISECTIONS = 18  # halvings of the load range: capacity to within 4 millionths of the range


@dataclasses.dataclass(frozen=True)
class Capacity:
    """What one replica does with the workload."""

    alone: speed.Speed  # one request on an idle replica: the best latency it can give
    saturated: speed.Speed  # as many requests as the engine admits
    requests_per_s: float  # within the targets, before the tier's headroom
    concurrency: float  # requests in flight at that rate
    limit: str  # what stops it serving more: a target, or the engine's batch/KV limit
    meets_targets: bool  # an idle replica meets the targets at all
    missed: str | None  # which target an idle replica misses, and by how much


def _meets(got: speed.Speed, traffic: Traffic) -> str | None:
    """The first target ``got`` misses, worded; None when it meets them all."""
    if got.saturated:
        return "more load than the engine admits"
    if traffic.ttft_s is not None and got.ttft_s > traffic.ttft_s:
        return f"TTFT {got.ttft_s * 1000:,.0f} ms > target {traffic.ttft_s * 1000:,.0f} ms"
    if traffic.tpot_s is not None and got.tpot_s > traffic.tpot_s:
        return f"TPOT {got.tpot_s * 1000:,.1f} ms > target {traffic.tpot_s * 1000:,.0f} ms"
    return None


def load_of(traffic: Traffic) -> speed.Workload:
    return speed.Workload(input_tokens=traffic.input_tokens, output_tokens=traffic.output_tokens)


def capacity(replica: speed.Replica, traffic: Traffic) -> Capacity:
    """The most load one replica carries within the targets (bisection on the load).

    With the peak given as a request rate the load is a rate (``speed.at_rate``, queueing
    included); given as users, it is requests in flight (``speed.at_concurrency``).
    """
    load = load_of(traffic)
    alone = speed.at_concurrency(replica, load, 1.0)
    top = speed.admitted(replica, load)
    saturated = speed.at_concurrency(replica, load, top)
    missed = _meets(alone, traffic)
    if missed is not None:
        return Capacity(alone, saturated, alone.requests_per_s, 1.0, missed, False, missed)
    by_rate = traffic.requests_per_s is not None
    top_rate = saturated.requests_per_s

    def at(n: float) -> speed.Speed:
        """Requests in flight ``n``: as a closed loop, or as the Poisson arrivals it carries."""
        if by_rate:
            return speed.arriving(replica, load, n, capacity=top_rate)
        return speed.at_concurrency(replica, load, n)

    high = top
    if _meets(at(high * 0.999), traffic) is None:
        got = at(high * 0.999)
        return Capacity(
            alone,
            saturated,
            got.requests_per_s,
            got.concurrency,
            _engine_limit(replica, load),
            True,
            None,
        )
    low = 1e-3 if by_rate else 1.0  # an idle replica meets the targets (checked above)
    limit = _meets(at(high * 0.999), traffic) or ""
    for _ in range(BISECTIONS):
        mid = (low + high) / 2
        if _meets(at(mid), traffic) is None:
            low = mid
        else:
            high = mid
    got = at(low)
    return Capacity(
        alone, saturated, got.requests_per_s, got.concurrency, _bound(limit), True, None
    )


def _bound(missed: str) -> str:
    """'TTFT 1,200 ms > target 1,000 ms' -> 'the TTFT target'."""
    for name in ("TTFT", "TPOT"):
        if missed.startswith(name):
            return f"the {name} target"
    return "the engine's batch limit"


def _engine_limit(replica: speed.Replica, load: speed.Workload) -> str:
    est = replica.memory
    top = speed.admitted(replica, load)
    if top >= est.max_num_seqs - 1e-6:
        return f"max_num_seqs {est.max_num_seqs}"
    return f"the KV cache ({est.kv_tokens:,} tokens, {top:.0f} requests of this workload)"


@dataclasses.dataclass(frozen=True)
class Sizing:
    """Replicas for the peak, the load each one carries then, and its figures there."""

    needed: int  # replicas the peak needs within the targets and the headroom
    replicas: int  # with the tier's minimum and spares (or as pinned)
    per_replica: speed.Speed  # at the peak, spread over the replicas it needs
    peak_requests_per_s: float  # the whole deployment
    problem: str | None  # the peak needs more replicas than a plan may have


def size(
    replica: speed.Replica,
    traffic: Traffic,
    cap: Capacity,
    *,
    load_share: float,
    min_replicas: int,
    spare_replicas: int,
    pinned: int | None,
) -> Sizing:
    load = load_of(traffic)
    if traffic.requests_per_s is not None:
        per = max(cap.requests_per_s * load_share, 1e-9)
        needed = max(1, math.ceil(traffic.requests_per_s / per - 1e-9))
    else:
        users = traffic.concurrent_users or 1
        per = max(cap.concurrency * load_share, 1e-9)
        needed = max(1, math.ceil(users / per - 1e-9))
    replicas = pinned if pinned is not None else max(min_replicas, needed) + spare_replicas
    problem = None
    if needed > MAX_REPLICAS:
        problem = f"the peak needs {needed} replicas (more than {MAX_REPLICAS})"
        needed = MAX_REPLICAS
    serving = min(needed, replicas)
    if traffic.requests_per_s is not None:
        got = speed.at_rate(replica, load, traffic.requests_per_s / serving)
        peak = traffic.requests_per_s
    else:
        got = speed.at_concurrency(replica, load, (traffic.concurrent_users or 1) / serving)
        peak = got.requests_per_s * serving
    return Sizing(needed, replicas, got, peak, problem)


def prefill_share(replica: speed.Replica, traffic: Traffic, concurrency: float) -> float:
    """Share of a replica's time its requests' prompts take: the time per request with the
    workload's prompts against the same requests with a one-token prompt, at the same
    concurrency. It splits the bill between input and output tokens."""
    n = max(concurrency, 1.0)
    full = speed.at_concurrency(replica, load_of(traffic), n)
    bare = speed.at_concurrency(
        replica, speed.Workload(input_tokens=1, output_tokens=traffic.output_tokens), n
    )
    if full.requests_per_s <= 0:
        return 0.0
    return min(0.95, max(0.0, 1.0 - full.requests_per_s / bare.requests_per_s))


@dataclasses.dataclass(frozen=True)
class TokenPrices:
    input: float | None  # $ per 1M input tokens
    output: float | None  # $ per 1M output tokens
    blended: float | None  # $ per 1M tokens, input and output together


def token_prices(
    *,
    usd_per_hour: float | None,
    traffic: Traffic,
    peak_requests_per_s: float,
    utilisation: float,
    prefill: float,
) -> TokenPrices:
    """$ per 1M tokens when the deployment serves ``utilisation`` × its peak on average."""
    if usd_per_hour is None or peak_requests_per_s <= 0 or utilisation <= 0:
        return TokenPrices(None, None, None)
    requests_per_h = peak_requests_per_s * utilisation * 3600
    inp = requests_per_h * traffic.input_tokens
    out = requests_per_h * traffic.output_tokens
    return TokenPrices(
        input=round(usd_per_hour * prefill / inp * 1e6, 4),
        output=round(usd_per_hour * (1 - prefill) / out * 1e6, 4),
        blended=round(usd_per_hour / (inp + out) * 1e6, 4),
    )
