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


@dataclasses.dataclass(frozen=True)
class Tail:
    """95th-percentile TTFT and TPOT at a load (estimates; see ``tail``)."""

    ttft_s: float
    tpot_s: float


def _meets(got: speed.Speed, traffic: Traffic, tail: Tail | None = None) -> str | None:
    """The first target ``got`` (and its ``tail``) misses, worded; None when it meets them."""
    if got.saturated:
        return "more load than the engine admits"
    if traffic.ttft_s is not None and got.ttft_s > traffic.ttft_s:
        return f"TTFT {got.ttft_s * 1000:,.0f} ms > target {traffic.ttft_s * 1000:,.0f} ms"
    if traffic.tpot_s is not None and got.tpot_s > traffic.tpot_s:
        return f"TPOT {got.tpot_s * 1000:,.1f} ms > target {traffic.tpot_s * 1000:,.0f} ms"
    if tail is not None and traffic.ttft_p95_s is not None and tail.ttft_s > traffic.ttft_p95_s:
        return f"TTFT p95 {tail.ttft_s * 1000:,.0f} ms > target {traffic.ttft_p95_s * 1000:,.0f} ms"
    if tail is not None and traffic.tpot_p95_s is not None and tail.tpot_s > traffic.tpot_p95_s:
        return f"TPOT p95 {tail.tpot_s * 1000:,.1f} ms > target {traffic.tpot_p95_s * 1000:,.0f} ms"
    return None


TAIL = 0.05  # the share of requests beyond a 95th percentile
RELAXED = 1.5  # an option missing the targets is sized at 1.5× its idle TTFT and TPOT


def tail(
    replica: speed.Replica, traffic: Traffic, got: speed.Speed, *, capacity_rps: float | None
) -> Tail:
    """95th-percentile TTFT and TPOT at the load ``got`` was computed at, estimated.

    - The slow tail of TTFT is a long prompt that also waits: the TTFT of a p90-length prompt
      at the same requests in flight, plus the 95th percentile of the queueing wait when
      requests arrive at a rate. With Poisson arrivals the M/G/1 wait is zero with probability
      1 − ρ and roughly exponential otherwise, with mean W/ρ (W the mean wait,
      ``speed.queue_wait_s``), so its 95th percentile is (W/ρ) · ln(ρ / 0.05) when ρ > 0.05.
    - TPOT varies little between requests of one batch (they share every step); its tail is
      the TPOT of requests of p90 lengths at the same requests in flight: their longer
      contexts make every step slower. This bounds it from above.
    """
    long = speed.Workload(
        input_tokens=traffic.input_tokens_p90, output_tokens=traffic.output_tokens_p90
    )
    n = max(got.concurrency, 1.0)
    closed = speed.at_concurrency(replica, long, n)
    prompt = speed.at_concurrency(
        replica, speed.Workload(traffic.input_tokens_p90, traffic.output_tokens), n
    )
    wait = 0.0
    if capacity_rps is not None and capacity_rps > 0:
        rho = min(got.requests_per_s / capacity_rps, 0.999)
        mean = speed.queue_wait_s(rate=got.requests_per_s, capacity=capacity_rps)
        if rho > TAIL:
            wait = mean / rho * math.log(rho / TAIL)
    return Tail(ttft_s=prompt.ttft_s + wait, tpot_s=closed.tpot_s)


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
    by_rate = traffic.requests_per_s is not None
    top_rate = saturated.requests_per_s
    wants_tail = traffic.ttft_p95_s is not None or traffic.tpot_p95_s is not None

    def check(got: speed.Speed) -> str | None:
        if not wants_tail:
            return _meets(got, traffic)
        rate = top_rate if by_rate else None
        return _meets(got, traffic, tail(replica, traffic, got, capacity_rps=rate))

    missed = check(alone)
    if missed is not None:
        # Not even an idle replica meets them: size it against what it can do instead (its
        # idle figures with ``RELAXED`` headroom), so the peak is not spread one request per
        # replica; the plan says which target it misses.
        relaxed = dataclasses.replace(
            traffic,
            ttft_s=None if traffic.ttft_s is None else max(traffic.ttft_s, alone.ttft_s * RELAXED),
            tpot_s=None if traffic.tpot_s is None else max(traffic.tpot_s, alone.tpot_s * RELAXED),
            ttft_p95_s=None,
            tpot_p95_s=None,
        )
        found = capacity(replica, relaxed)
        return dataclasses.replace(found, meets_targets=False, missed=missed)

    def at(n: float) -> speed.Speed:
        """Requests in flight ``n``: as a closed loop, or as the Poisson arrivals it carries."""
        if by_rate:
            return speed.arriving(replica, load, n, capacity=top_rate)
        return speed.at_concurrency(replica, load, n)

    high = top
    near_top = at(high * 0.999)
    first_miss = check(near_top)
    if first_miss is None:
        got = near_top
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
    limit = first_miss
    for _ in range(BISECTIONS):
        mid = (low + high) / 2
        if check(at(mid)) is None:
            low = mid
        else:
            high = mid
    got = at(low)
    limit = check(at(high)) or limit  # the target missed just past the capacity
    return Capacity(
        alone, saturated, got.requests_per_s, got.concurrency, _bound(limit), True, None
    )


def _bound(missed: str) -> str:
    """'TTFT 1,200 ms > target 1,000 ms' -> 'the TTFT target'."""
    for name in ("TTFT p95", "TPOT p95", "TTFT", "TPOT"):
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
    tail: Tail  # 95th percentiles at the peak (estimates)


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
        rate: float | None = cap.saturated.requests_per_s
    else:
        got = speed.at_concurrency(replica, load, (traffic.concurrent_users or 1) / serving)
        peak = got.requests_per_s * serving
        rate = None
    slow = tail(replica, traffic, got, capacity_rps=rate)
    return Sizing(needed, replicas, got, peak, problem, slow)


def prefill_share(
    replica: speed.Replica, traffic: Traffic, *, concurrency: float, requests_per_s: float
) -> float:
    """Share of a replica's time its requests' prompts take, at a load: each prompt adds its
    chunks to engine steps that decode ``concurrency`` requests; what those chunks add to the
    step time (``speed.step_s`` with and without them), times the request rate, is the share
    of every second spent on prompts. It splits the bill between input and output tokens."""
    n = max(concurrency, 0.0)
    budget = float(replica.memory.max_num_batched_tokens)
    prompt = float(traffic.input_tokens)
    chunks = max(1, math.ceil(prompt / budget))
    context = speed.in_flight_context(load_of(traffic))
    chunk = prompt / chunks
    plain = speed.step_s(replica, decoding=n, prefill=0.0, context=context)
    mixed = speed.step_s(replica, decoding=n, prefill=chunk, context=context)
    per_request = chunks * max(mixed - plain, 0.0)
    return min(0.95, per_request * max(requests_per_s, 0.0))


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
