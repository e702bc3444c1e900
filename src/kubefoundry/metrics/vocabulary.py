"""One vocabulary for every model server's metrics, kept as data (``data/servers.yaml``).

vLLM says ``vllm:num_requests_waiting``, SGLang ``sglang:num_queue_reqs``, TGI
``tgi_queue_size``; KubeFoundry says ``waiting``. Each server maps the quantities of
:data:`QUANTITIES` to the series it exposes, newer names first, so a renamed metric is read
under either name. ``load()`` reads the file once, on first call.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

import yaml

from kubefoundry.core.errors import KubeFoundryError

SCHEMA_VERSION = 1
Kind = Literal["gauge", "counter", "histogram", "histogram_sum", "histogram_count"]
KINDS: tuple[Kind, ...] = ("gauge", "counter", "histogram", "histogram_sum", "histogram_count")

# quantity -> how it is read: a level (gauge), a rate (counter) or a distribution (histogram)
QUANTITIES: Mapping[str, Literal["gauge", "counter", "histogram"]] = MappingProxyType(
    {
        "running": "gauge",
        "waiting": "gauge",
        "kv_usage": "gauge",
        "prefix_hit_ratio": "gauge",
        "ready_pods": "gauge",
        "prompt_tokens": "counter",
        "output_tokens": "counter",
        "requests": "counter",
        "errors": "counter",
        "preemptions": "counter",
        "prefix_queries": "counter",
        "prefix_hits": "counter",
        "ttft": "histogram",
        "itl": "histogram",
        "e2e": "histogram",
    }
)
_READ_AS: Mapping[Kind, str] = MappingProxyType(
    {
        "gauge": "gauge",
        "counter": "counter",
        "histogram": "histogram",
        "histogram_sum": "counter",
        "histogram_count": "counter",
    }
)


@dataclasses.dataclass(frozen=True)
class Source:
    """One exposed series a quantity is read from."""

    kind: Kind
    name: str  # as exposed: a counter with its _total, a histogram's base name
    where: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    scale: float = 1.0
    combine: Literal["sum", "mean"] = "sum"

    def sample_names(self) -> tuple[str, ...]:
        """The sample names this source reads."""
        if self.kind == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        if self.kind == "histogram_sum":
            return (f"{self.name}_sum",)
        if self.kind == "histogram_count":
            return (f"{self.name}_count",)
        return (self.name,)

    def selects(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(key) in values for key, values in self.where.items())


@dataclasses.dataclass(frozen=True)
class Server:
    key: str
    label: str
    detect: tuple[str, ...]
    series: Mapping[str, tuple[Source, ...]]  # quantity -> sources, first found wins


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    servers: Mapping[str, Server]

    @functools.cached_property
    def bases(self) -> frozenset[str]:
        """The family names (no _total, _bucket, _sum, _count) any server's quantities read."""
        names: set[str] = set()
        for server in self.servers.values():
            names.update(server.detect)
            for sources in server.series.values():
                names.update(source.name for source in sources)
        return frozenset(family(n) for n in names)

    def detect(self, sample_names: set[str]) -> Server | None:
        """The server whose marker series are among ``sample_names``."""
        for server in self.servers.values():
            if any(name in sample_names for name in server.detect):
                return server
        return None


SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created")


def family(name: str) -> str:
    """A sample's family name: without the suffix a counter or histogram adds to it."""
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


@functools.cache
def load() -> Vocabulary:
    text = resources.files("kubefoundry.metrics").joinpath("data/servers.yaml").read_text()
    return parse(yaml.safe_load(text))


def parse(data: Mapping[str, Any]) -> Vocabulary:
    """The vocabulary from the file's data; a malformed entry is our bug, said exactly."""
    if data.get("schema") != SCHEMA_VERSION:
        raise KubeFoundryError(f"metrics/data/servers.yaml: schema {data.get('schema')!r}")
    servers = {}
    for key, entry in data["servers"].items():
        series = {
            q: tuple(_source(key, q, s) for s in sources) for q, sources in entry["series"].items()
        }
        servers[key] = Server(
            key=key,
            label=entry["label"],
            detect=tuple(entry["detect"]),
            series=MappingProxyType(series),
        )
    return Vocabulary(servers=MappingProxyType(servers))


def _source(server: str, quantity: str, entry: Mapping[str, Any]) -> Source:
    where = f"metrics/data/servers.yaml: {server}.{quantity}"
    if quantity not in QUANTITIES:
        raise KubeFoundryError(f"{where}: unknown quantity (known: {', '.join(QUANTITIES)})")
    kinds = [k for k in KINDS if k in entry]
    if len(kinds) != 1:
        raise KubeFoundryError(f"{where}: a source names one of {', '.join(KINDS)}")
    kind = kinds[0]
    if _READ_AS[kind] != QUANTITIES[quantity]:
        raise KubeFoundryError(f"{where}: a {QUANTITIES[quantity]} cannot be read from a {kind}")
    return Source(
        kind=kind,
        name=str(entry[kind]),
        where=MappingProxyType({k: tuple(map(str, v)) for k, v in entry.get("where", {}).items()}),
        scale=float(entry.get("scale", 1.0)),
        combine=entry.get("combine", "sum"),
    )
