"""A finite burst of requests replayed through vLLM's scheduler and its API server, step by step.

``speed.at_max(prompts=P)`` lands here: ``P`` requests sent at once, as ``vllm bench serve
--request-rate inf`` does. Each engine step schedules the running requests' decode tokens
first, then prompt chunks (of partially prefilled, then waiting requests, oldest first) up to
``max_num_batched_tokens``, admitting while ``max_num_seqs`` and the free KV cache allow; when
the decode tokens of a step do not fit in the KV cache the newest running request is
preempted and later recomputed (its prompt and what it had generated).

The API server is one event loop that both takes in requests (``speed.FRONTEND_REQUEST_S``
each) and streams every generated token (``speed.FRONTEND_TOKEN_S`` each). A request reaches
the engine only once the loop has taken it in, and while requests are still waiting to be
taken in the loop gives them as much of its time as the streaming gets (or the time it would
otherwise idle while the GPU works): intake slows as more requests stream, and streaming slows
while the rest of the burst is taken in. An event loop serves its ready tasks in turn, so the
part of a request's intake that runs before its first suspension (HTTP parsing, validation,
rendering the chat template: ``speed.FRONTEND_ARRIVAL_SHARE`` of it) is done for every request
of the burst before any request's second part (tokenising, handing it to the engine) runs: no
request reaches the engine until that share of the whole burst's intake is done. The
constants live in ``planning/speed.py``.
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import math

from kubefoundry.planning import speed
from kubefoundry.planning.speed import Replica, Speed, Workload


def output_lengths(load: Workload, count: int) -> list[int]:
    """``count`` output lengths spread like an exponential of the workload's mean.

    Quantiles taken in a golden-ratio order, so that arrival order and length are unrelated
    (as in a shuffled dataset), rescaled so their mean is the workload's.
    """
    golden = (math.sqrt(5) - 1) / 2
    raw = [-math.log(1 - ((k + 0.5) * golden) % 1.0) for k in range(count)]
    if speed.LENGTH_CV == 0:
        raw = [1.0] * count
    scale = load.output_tokens / (sum(raw) / count)
    return [max(1, round(x * scale)) for x in raw]


def intake_s(r: Replica, *, engine_s: float, stream_s: float, pending_s: float) -> float:
    """API-server time spent taking in requests during one engine step.

    The loop shares its time between the step's streaming and the requests still to be taken
    in: intake gets as much as the streaming (an event loop serves its ready tasks in turn) or,
    from V1 where the engine runs in its own process, the time the loop would otherwise wait
    for the GPU, whichever is more; before V1 the loop also ran the engine step itself. Never
    more than the requests still pending need (``pending_s``).
    """
    share = max(engine_s - stream_s, stream_s) if r.v1_engine else engine_s + stream_s
    return min(pending_s, share)


def step_seen_s(r: Replica, *, engine_s: float, stream_s: float, intake: float) -> float:
    """A step as clients see it: from V1 the API server overlaps the GPU, before V1 it adds."""
    if r.v1_engine:
        return max(engine_s, stream_s + intake)
    return engine_s + stream_s + intake


def burst(r: Replica, load: Workload, *, prompts: int) -> Speed:
    """``prompts`` requests sent at once; the figures a benchmark client reports.

    Mean TTFT, mean per-request TPOT, output tokens over the whole run (see the module).
    """
    lengths = output_lengths(load, prompts)
    prompt = max(1, round(load.input_tokens))
    budget, seqs = r.memory.max_num_batched_tokens, r.memory.max_num_seqs
    kv = max(r.memory.kv_tokens, prompt + 1)
    sim = _Burst(prompts)
    per_request = speed.FRONTEND_REQUEST_S
    taken, intake = 0, 0.0  # requests handed to the engine; intake work done (in requests)
    now, step, finished = 0.0, 0, 0
    while finished < prompts:
        if not (sim.waiting or sim.prefilling or sim.decoding):
            # the engine is idle: the API server takes in the next request on its own
            target = _work_before(taken + 1, prompts)
            now += max(target - intake, 0.0) * per_request
            intake = target
        while taken < min(_handed(intake, prompts), prompts):
            sim.waiting.append((taken, prompt))
            taken += 1
        while sim.decoding and sim.kv_used(step) + len(sim.decoding) > kv:
            k = sim.preempt(step)
            sim.waiting.appendleft((k, prompt + sim.generated[k]))
        d = len(sim.decoding)
        room, chunk = budget - d, 0
        for p in sim.prefilling:
            take = min(room, p[1])
            p[1], p[2], room, chunk = p[1] - take, p[2] + take, room - take, chunk + take
        used = sim.kv_used(step) + d + chunk
        while sim.waiting and room > 0 and d + len(sim.prefilling) < seqs:
            k, need = sim.waiting[0]
            take = min(room, need)
            if used + take > kv:
                break
            sim.waiting.popleft()
            sim.prefilling.append([k, need - take, take])
            room, chunk, used = room - take, chunk + take, used + take
        context = sim.kv_used(step) / d if d else 0.0
        engine = speed.step_s(r, decoding=d, prefill=chunk, context=context)
        stream = speed.FRONTEND_TOKEN_S * (d + len(sim.prefilling))
        pending = (prompts - intake) * per_request
        spent = intake_s(r, engine_s=engine, stream_s=stream, pending_s=pending)
        if per_request > 0:
            intake = min(intake + spent / per_request, float(prompts))
        else:
            intake = float(prompts)
        now += step_seen_s(r, engine_s=engine, stream_s=stream, intake=spent)
        finished += sim.advance(step, now, lengths)
        step += 1
    got = sim.speed(lengths, ttft_extra=speed.REQUEST_OVERHEAD_S)
    return dataclasses.replace(got, saturated=prompts > speed.admitted(r, load))


def _work_before(k: int, prompts: int) -> float:
    """Intake work (in requests) the API server has done when request ``k`` reaches the engine."""
    share = speed.FRONTEND_ARRIVAL_SHARE
    return share * prompts + (1 - share) * k


def _handed(intake: float, prompts: int) -> int:
    """Requests handed to the engine once the loop has done ``intake`` requests' work."""
    share = speed.FRONTEND_ARRIVAL_SHARE
    if share >= 1:
        return prompts if intake >= prompts - 1e-9 else 0
    return max(0, math.floor((intake - share * prompts) / (1 - share) + 1e-9))


class _Burst:
    """Bookkeeping of a burst: who waits, who is mid-prompt, who decodes, and their times."""

    def __init__(self, prompts: int) -> None:
        self.waiting: collections.deque[tuple[int, int]] = collections.deque()
        self.prefilling: list[list[int]] = []  # [request, tokens left, tokens done]
        self.decoding: dict[int, tuple[int, int]] = {}  # request → (first step, KV at it)
        self.ends: list[tuple[int, int]] = []  # heap of (last step, request)
        self.generated = [0] * prompts  # tokens generated before the current first step
        self.first = [0.0] * prompts
        self.done = [0.0] * prompts
        self.sum_start = 0  # Σ first step over decoding requests
        self.sum_kv = 0  # Σ KV tokens at the first step over decoding requests

    def kv_used(self, step: int) -> int:
        return self.sum_kv + len(self.decoding) * step - self.sum_start

    def _leave(self, k: int) -> int:
        start, base = self.decoding.pop(k)
        self.sum_start -= start
        self.sum_kv -= base
        return start

    def preempt(self, step: int) -> int:
        k = next(reversed(self.decoding))
        self.generated[k] += step - self._leave(k)
        return k

    def advance(self, step: int, now: float, lengths: list[int]) -> int:
        """Close the step that ended at ``now``: prompts completed, requests finished."""
        still = []
        for p in self.prefilling:
            if p[1]:
                still.append(p)
                continue
            k = p[0]
            if self.generated[k] == 0:
                self.first[k] = now
            self.decoding[k] = (step, p[2])
            self.sum_start += step
            self.sum_kv += p[2]
            heapq.heappush(self.ends, (step + lengths[k] - self.generated[k] - 1, k))
        self.prefilling = still
        finished = 0
        while self.ends and self.ends[0][0] <= step:
            end, k = heapq.heappop(self.ends)
            entry = self.decoding.get(k)
            if entry is None or entry[0] + lengths[k] - self.generated[k] - 1 != end:
                continue  # preempted since: a stale entry
            self._leave(k)
            self.done[k] = now
            finished += 1
        return finished

    def speed(self, lengths: list[int], *, ttft_extra: float) -> Speed:
        count = len(lengths)
        duration = max(self.done) + ttft_extra
        tpots = [
            (self.done[k] - self.first[k]) / (lengths[k] - 1)
            for k in range(count)
            if lengths[k] > 1
        ]
        latency = sum(self.done) / count + ttft_extra
        return Speed(
            output_tokens_per_s=sum(lengths) / duration,
            requests_per_s=count / duration,
            ttft_s=sum(self.first) / count + ttft_extra,
            tpot_s=sum(tpots) / len(tpots) if tpots else 0.0,
            concurrency=count * latency / duration,
            saturated=True,
        )
