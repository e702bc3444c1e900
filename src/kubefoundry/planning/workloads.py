"""The traffic a plan is sized for: a named profile from ``data/workloads.yaml`` with the
request's own figures laid over it, the tier's latency factor applied, and every default
that was assumed written down so the plan can say it.
"""

from __future__ import annotations

import dataclasses
import functools
from importlib import resources

from kubefoundry.core import files
from kubefoundry.core.errors import InvalidInputError
from kubefoundry.core.spec import WorkloadSpec
from kubefoundry.planning.tiers import Tier


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    input_tokens: int
    input_tokens_p90: int
    output_tokens: int
    output_tokens_p90: int
    ttft_ms: float | None
    tpot_ms: float | None


@dataclasses.dataclass(frozen=True)
class Traffic:
    """The resolved workload: lengths, the peak load and the latency targets (seconds)."""

    profile: str
    input_tokens: int  # mean
    output_tokens: int  # mean
    input_tokens_p90: int
    output_tokens_p90: int
    requests_per_s: float | None  # peak, the whole deployment; or
    concurrent_users: int | None  # peak requests in flight, the whole deployment
    ttft_s: float | None  # mean target, after the tier's factor
    tpot_s: float | None
    assumed: tuple[str, ...]  # what came from the profile or the tier, not the request
    ttft_p95_s: float | None = None  # 95th-percentile targets: only the request's own
    tpot_p95_s: float | None = None

    @property
    def longest_typical(self) -> int:
        """Tokens of a p90 request, prompt and answer: the context should accept it."""
        return self.input_tokens_p90 + self.output_tokens_p90

    def describe(self) -> str:
        peak = (
            f"{self.requests_per_s:g} requests/s"
            if self.requests_per_s is not None
            else f"{self.concurrent_users} requests in flight"
        )
        return (
            f"{self.profile}: {self.input_tokens:,} tokens in, {self.output_tokens:,} out "
            f"(p90 {self.input_tokens_p90:,} / {self.output_tokens_p90:,}), peak {peak}"
        )

    def targets(self) -> str:
        parts = []
        if self.ttft_s is not None:
            parts.append(f"TTFT ≤ {self.ttft_s * 1000:,.0f} ms")
        if self.tpot_s is not None:
            parts.append(f"TPOT ≤ {self.tpot_s * 1000:,.0f} ms")
        if self.ttft_p95_s is not None:
            parts.append(f"TTFT p95 ≤ {self.ttft_p95_s * 1000:,.0f} ms")
        if self.tpot_p95_s is not None:
            parts.append(f"TPOT p95 ≤ {self.tpot_p95_s * 1000:,.0f} ms")
        return ", ".join(parts) or "no latency target"


@functools.cache
def profiles() -> tuple[Profile, ...]:
    text = resources.files("kubefoundry.planning").joinpath("data/workloads.yaml").read_text()
    return tuple(Profile(**entry) for entry in files.parse_yaml(text)["profiles"])


def profile(name: str) -> Profile:
    for p in profiles():
        if p.name == name:
            return p
    raise KeyError(name)  # the request's Literal admits only names in the data (tested)


def resolve(spec: WorkloadSpec, tier: Tier) -> Traffic:
    """The request's workload with the profile's figures where it gives none."""
    base = profile(spec.profile)
    assumed: list[str] = []

    def pick(field: str) -> int:
        own = getattr(spec, field)
        if own is not None:
            return int(own)
        assumed.append(field)
        return int(getattr(base, field))

    inp, out = pick("input_tokens"), pick("output_tokens")
    inp90 = (
        spec.input_tokens_p90
        if spec.input_tokens_p90 is not None
        else max(base.input_tokens_p90, inp)
    )
    out90 = (
        spec.output_tokens_p90
        if spec.output_tokens_p90 is not None
        else max(base.output_tokens_p90, out)
    )
    for name, p90, mean in (("input_tokens", inp90, inp), ("output_tokens", out90, out)):
        if p90 < mean:
            raise InvalidInputError(
                f"workload.{name}_p90 ({p90:,}) is below the mean {name} ({mean:,}).",
                hint=f"The 90th percentile is at least the mean: raise `workload.{name}_p90` "
                "or lower the mean.",
            )
    rate, users = spec.requests_per_s, spec.concurrent_users
    if rate is None and users is None:
        users = tier.default_concurrency
        assumed.append(f"peak load ({users} requests in flight, the {tier.name} tier's default)")
    ttft = _target(spec.ttft_ms, base.ttft_ms, tier, "ttft_ms", assumed)
    tpot = _target(spec.tpot_ms, base.tpot_ms, tier, "tpot_ms", assumed)
    return Traffic(
        profile=spec.profile,
        input_tokens=inp,
        output_tokens=out,
        input_tokens_p90=inp90,
        output_tokens_p90=out90,
        requests_per_s=rate,
        concurrent_users=users,
        ttft_s=ttft,
        tpot_s=tpot,
        assumed=tuple(assumed),
        ttft_p95_s=None if spec.ttft_p95_ms is None else spec.ttft_p95_ms / 1000,
        tpot_p95_s=None if spec.tpot_p95_ms is None else spec.tpot_p95_ms / 1000,
    )


def _target(
    own: float | None, profiled: float | None, tier: Tier, field: str, assumed: list[str]
) -> float | None:
    """The request's target as given; else the profile's, scaled by the tier's factor."""
    if own is not None:
        return own / 1000
    if profiled is None:
        return None
    assumed.append(field)
    return profiled * tier.target_factor / 1000
