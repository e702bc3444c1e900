"""The vocabulary as PromQL: a deployment's history from a Prometheus that scrapes its pods.

Where a cluster runs Prometheus (the ServiceMonitor or PodMonitor we render has it scrape the
model servers), the past is read from it with range queries instead of kept by KubeFoundry:
one query per quantity, written from ``data/servers.yaml`` so every server family and every
renamed metric is asked for at once (``or`` keeps the first that has samples), over the
deployment's pods (``selector``). Counters become ``rate`` over ``RATE_WINDOW`` and
histograms ``histogram_quantile`` of the summed bucket rates: what ``readings`` computes
from two scrapes, computed by Prometheus over its own.

``points`` turns the answers into the readings' data shape (``deploy/monitoring.reading_dict``)
so the same charts draw either history. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from kubefoundry.metrics import vocabulary

RATE_WINDOW = "1m"
QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
# The reading fields drawn from a level or a rate, by the vocabulary's quantity.
LEVELS = {"running": "running", "waiting": "waiting", "kv_usage": "kv_usage"}
RATES = {
    "prompt_tokens": "prompt_tps",
    "output_tokens": "output_tps",
    "requests": "requests_per_s",
    "errors": "errors_per_s",
    "preemptions": "preemptions_per_s",
}
DISTRIBUTIONS = ("ttft", "itl", "e2e")


def selector(*, namespace: str, name: str) -> str:
    """A deployment's pods: those of its namespace named after it (every runtime names its
    pods ``<name>-...``), by the ``namespace`` and ``pod`` target labels the Prometheus
    Operator sets."""
    return f'namespace="{namespace}",pod=~"{name}-.+"'  # a DNS label: nothing to escape


def _matchers(where: str, source: vocabulary.Source) -> str:
    extra = [f'{label}=~"{"|".join(values)}"' for label, values in sorted(source.where.items())]
    return ",".join([where, *extra])


def _counter_names(name: str) -> tuple[str, ...]:
    """A counter as Prometheus stores it: the name exposed, ``_total`` or not (TGI's)."""
    return (name, name.removesuffix("_total")) if name.endswith("_total") else (name,)


def _source(source: vocabulary.Source, where: str) -> list[str]:
    """The expressions of one source: a level, or a per-second rate."""
    m = _matchers(where, source)
    if source.kind == "gauge":
        fold = "avg" if source.combine == "mean" else "sum"
        out = [f"{fold}({source.name}{{{m}}})"]
    elif source.kind == "counter":
        out = [f"sum(rate({n}{{{m}}}[{RATE_WINDOW}]))" for n in _counter_names(source.name)]
    elif source.kind in ("histogram_sum", "histogram_count"):
        part = "sum" if source.kind == "histogram_sum" else "count"
        out = [f"sum(rate({source.name}_{part}{{{m}}}[{RATE_WINDOW}]))"]
    else:
        raise ValueError(f"{source.name}: a histogram is read as quantiles")
    return [f"({e}) * {source.scale:g}" for e in out] if source.scale != 1.0 else out


def _either(expressions: Sequence[str]) -> str | None:
    """The first of ``expressions`` with a value at each instant."""
    return " or ".join(f"({e})" for e in expressions) if expressions else None


def _sources(quantity: str) -> list[vocabulary.Source]:
    servers = vocabulary.load().servers.values()
    return [s for server in servers for s in server.series.get(quantity, ())]


def queries(where: str) -> dict[str, str]:
    """Each history field's PromQL over the pods ``where`` selects: ``running``,
    ``output_tps``..., ``ttft.p50``... and ``pods`` (those whose server reports requests
    running, of any family)."""
    out: dict[str, str] = {}
    for quantity, field in (LEVELS | RATES).items():
        either = _either([e for s in _sources(quantity) for e in _source(s, where)])
        if either:
            out[field] = either
    for quantity in DISTRIBUTIONS:
        for key, q in QUANTILES.items():
            shapes = [
                f"histogram_quantile({q}, sum by (le) "
                f"(rate({s.name}_bucket{{{_matchers(where, s)}}}[{RATE_WINDOW}])))"
                for s in _sources(quantity)
                if s.kind == "histogram"
            ]
            either = _either(shapes)
            if either:
                out[f"{quantity}.{key}"] = either
    out["pods"] = pods(where)
    return out


def pods(where: str) -> str:
    """The pods ``where`` selects whose server reports requests running, of any family."""
    running = sorted({s.name for s in _sources("running") if s.kind == "gauge"})
    return f'count(count by (pod) ({{__name__=~"{"|".join(running)}",{where}}}))'


def replica_seconds(pods: str, *, seconds: float, resolution_s: float) -> str:
    """Model-server pods × seconds over the last ``seconds``: the ``pods`` query sampled
    every ``resolution_s`` (a subquery), each sample counted for that long."""
    return f"sum_over_time(({pods})[{int(seconds)}s:{int(resolution_s)}s]) * {int(resolution_s)}"


def points(
    answers: Mapping[str, Sequence[tuple[float, float]]], *, step_s: float
) -> list[dict[str, Any]]:
    """Each instant any query answered, oldest first, as a reading's data: a field none of
    its sources had at that instant is None (NaN, as ``histogram_quantile`` gives with no
    observations, too). Each point covers ``step_s``."""
    at_times = sorted({t for series in answers.values() for t, _ in series})
    by_field = {field: dict(series) for field, series in answers.items()}
    out = []
    for t in at_times:

        def value(field: str, t: float = t) -> float | None:
            v = by_field.get(field, {}).get(t)
            return None if v is None or math.isnan(v) else v

        point: dict[str, Any] = {
            "at": t,
            "interval_s": step_s,
            "servers": [],
            "pods": int(value("pods") or 0),
            "ready_pods": None,
            "prefix_hit_ratio": None,
            "gpus": None,
            "busy_gpus": None,
        }
        for field in (*LEVELS.values(), *RATES.values()):
            point[field] = value(field)
        for quantity in DISTRIBUTIONS:
            shape = {key: value(f"{quantity}.{key}") for key in QUANTILES}
            point[quantity] = None if all(v is None for v in shape.values()) else shape
        out.append(point)
    return out


def matrix(answer: Mapping[str, Any]) -> list[tuple[float, float]]:
    """A ``query_range`` answer of one series (a ``sum``) as (time, value) pairs; an empty
    result is no samples. Raises ``ValueError`` for an answer that is not a success."""
    if answer.get("status") != "success":
        raise ValueError(str(answer.get("error") or answer.get("status") or "no status"))
    data = answer.get("data") or {}
    if data.get("resultType") != "matrix":
        raise ValueError(f"a {data.get('resultType')!r} result, not a matrix")
    result = data.get("result") or []
    if len(result) > 1:
        raise ValueError(f"{len(result)} series where one was asked for")
    return [(float(t), float(v)) for t, v in (result[0]["values"] if result else [])]
