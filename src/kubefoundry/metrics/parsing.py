"""From a model server's /metrics text to a :class:`Snapshot` of the vocabulary's quantities.

The text is parsed by ``prometheus_client``'s parser. The server is recognised by its marker
series (``vocabulary.Server.detect``); each quantity keeps its series apart, keyed by where
the text came from (a pod) and the series' labels, so a counter that restarts (a pod that
restarted) is seen as a reset of that series only. Snapshots of a deployment's pods are
merged into one with :func:`merge`.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping

from prometheus_client.parser import text_string_to_metric_families

from kubefoundry.core.errors import PermanentError
from kubefoundry.metrics import vocabulary

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs
SeriesKey = tuple[str, Labels]  # (origin: a pod's name, the series' labels)


@dataclasses.dataclass(frozen=True, slots=True)
class Histogram:
    """One histogram series: cumulative counts at each upper bound, ascending, +Inf last."""

    buckets: tuple[tuple[float, float], ...]
    count: float
    sum: float


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """The vocabulary's quantities as one scrape (or several pods' scrapes) found them."""

    at: float  # seconds, on the clock the caller keeps
    servers: frozenset[str]  # vocabulary keys recognised; empty: no known server
    values: Mapping[str, Mapping[SeriesKey, float]]  # gauges and counters, by quantity
    histograms: Mapping[str, Mapping[SeriesKey, Histogram]]
    combine: Mapping[str, str]  # gauge quantity -> "sum" or "mean" over its series
    origins: int = 0  # pods (texts) whose server was recognised


def parse(
    text: str,
    *,
    at: float,
    origin: str = "",
    words: vocabulary.Vocabulary | None = None,
) -> Snapshot:
    """The quantities in ``text``; a quantity the server does not expose is absent."""
    words = words or vocabulary.load()
    samples = _samples(_wanted_lines(text, words.bases), origin)
    server = words.detect(set(samples))
    if server is None:
        return Snapshot(at, frozenset(), {}, {}, {})
    values: dict[str, dict[SeriesKey, float]] = {}
    histograms: dict[str, dict[SeriesKey, Histogram]] = {}
    combine: dict[str, str] = {}
    for quantity, sources in server.series.items():
        for source in sources:
            if source.kind == "histogram":
                found = _histograms(samples, source, origin)
                if found is not None:
                    histograms[quantity] = found
                    break
            elif source.sample_names()[0] in samples:
                rows = samples[source.sample_names()[0]]
                values[quantity] = {
                    (origin, labels): value * source.scale
                    for labels, value in rows
                    if source.selects(dict(labels))
                }
                combine[quantity] = source.combine
                break
    return Snapshot(at, frozenset({server.key}), values, histograms, combine, origins=1)


def merge(snapshots: Iterable[Snapshot], *, at: float) -> Snapshot:
    """Several origins' snapshots (a deployment's pods) as one."""
    values: dict[str, dict[SeriesKey, float]] = defaultdict(dict)
    histograms: dict[str, dict[SeriesKey, Histogram]] = defaultdict(dict)
    combine: dict[str, str] = {}
    servers: set[str] = set()
    origins = 0
    for snap in snapshots:
        servers |= snap.servers
        origins += snap.origins
        for quantity, series in snap.values.items():
            values[quantity].update(series)
        for quantity, hists in snap.histograms.items():
            histograms[quantity].update(hists)
        combine.update(snap.combine)
    return Snapshot(
        at, frozenset(servers), dict(values), dict(histograms), combine, origins=origins
    )


def _wanted_lines(text: str, bases: frozenset[str]) -> str:
    """Only the lines of families the vocabulary reads: a model server's /metrics is mostly
    histograms nobody here reads (vLLM's: 48 KiB, 66 families), and the parser's time goes
    with the text's length. Whole families are kept (their HELP and TYPE lines with them)."""
    kept = []
    for line in text.splitlines():
        if line.startswith("#"):
            parts = line.split(None, 3)
            name = parts[2] if len(parts) > 2 and parts[1] in ("HELP", "TYPE") else ""
        else:
            name = line.split("{", 1)[0].split(None, 1)[0] if line.strip() else ""
        if name and (name in bases or vocabulary.family(name) in bases):
            kept.append(line)
    return "\n".join(kept) + "\n"


def _samples(text: str, origin: str) -> dict[str, list[tuple[Labels, float]]]:
    out: dict[str, list[tuple[Labels, float]]] = defaultdict(list)
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out[sample.name].append((tuple(sorted(sample.labels.items())), sample.value))
    except (ValueError, IndexError, TypeError) as err:
        where = f" from {origin}" if origin else ""
        raise PermanentError(f"The metrics{where} are not Prometheus text format: {err}") from err
    return out


def _histograms(
    samples: Mapping[str, list[tuple[Labels, float]]], source: vocabulary.Source, origin: str
) -> dict[SeriesKey, Histogram] | None:
    bucket_name, sum_name, count_name = source.sample_names()
    if bucket_name not in samples:
        return None
    buckets: dict[Labels, list[tuple[float, float]]] = defaultdict(list)
    for labels, value in samples[bucket_name]:
        rest = tuple((k, v) for k, v in labels if k != "le")
        if source.selects(dict(rest)):
            buckets[rest].append((float(dict(labels)["le"]), value))
    sums = dict(samples.get(sum_name, []))
    counts = dict(samples.get(count_name, []))
    out = {}
    for labels, bounds in buckets.items():
        bounds.sort()
        if not math.isinf(bounds[-1][0]):  # a histogram always has its +Inf bucket
            continue
        out[(origin, labels)] = Histogram(
            buckets=tuple(bounds),
            count=counts.get(labels, bounds[-1][1]),
            sum=sums.get(labels, 0.0),
        )
    return out
