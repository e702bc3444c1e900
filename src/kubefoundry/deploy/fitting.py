"""Which GPUs each catalog model fits on, as the planner sizes it: the catalog's "fits on"
column and its "fits my cluster" filter.

The question is the one the planner answers when a user pins a GPU and leaves the count out:
how many GPUs of that type does one replica need? It is asked under one request,
``request(entry, gpu)``:

- tier good, the cheapest setup that serves the model, with its memory headroom;
- the checkpoint's own precision: weights as shipped and the KV cache in the model's dtype,
  so no GPU is listed because FP8 would squeeze the model onto it;
- an 8,192-token context (the good tier's own target, and longer than a p90 chat request),
  capped at the model's: a modest one, so the column says where the model runs at all;
- one node of up to ``NODE_GPUS`` GPUs, joined by tensor parallelism: a replica that needs two
  nodes is not "on" a GPU the way a catalog reader means it.

The answer comes from the planner's own placement (``placement.gpu_counts`` for the counts it
tries, ``placement.evaluate`` for the layout, memory estimate and context rule) without timing
each option: the table is ~0.2 s of memory estimates instead of seconds of speed models, cheap
enough to work out once per process (``fits_on`` is cached) and serve from memory. The planner
ranks a pinned GPU's options by price, so by count, unless a smaller count missed the
latency targets; ``tests/unit/test_fitting.py`` checks that ``planner.plan`` on the same
request picks the count listed here.

"Fits my cluster" compares that table with the cluster's GPU pools (``pools_of``): a model fits
a pool of its GPU type whose nodes each have at least the count listed. Discovering the pools
reads every node and pod, so ``PoolCache`` keeps them ``POOLS_TTL_S`` per connection.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from kubefoundry.catalog import gpus as gpu_catalog
from kubefoundry.catalog.models import ModelEntry
from kubefoundry.core.errors import KubeFoundryError, NotFoundError
from kubefoundry.core.facts import ClusterFacts
from kubefoundry.core.spec import DeploymentSpec
from kubefoundry.planning import engine_profiles, explaining, placement, precision, tiers

TIER = "good"
CONTEXT = 8192
NODE_GPUS = 8  # the largest GPU node clouds sell; one replica on one node
POOLS_TTL_S = 30.0  # a node pool added to the cluster shows in the filter this long after
FAILED_TTL_S = 5.0  # an unreachable cluster is asked again this soon, not on every page


@dataclasses.dataclass(frozen=True)
class Fit:
    """One replica fits on ``count`` GPUs of type ``gpu`` (a GPU catalog id) on one node."""

    gpu: str
    count: int

    def row(self) -> dict[str, Any]:
        return {"gpu": self.gpu, "count": self.count}


@dataclasses.dataclass(frozen=True)
class Pool:
    """A cluster's GPU pool as the filter sees it: the GPU type and GPUs on each node."""

    name: str
    gpu: str  # GPU catalog id
    gpus_per_node: int


def context(entry: ModelEntry) -> int:
    return min(CONTEXT, entry.arch.max_position_embeddings)


def request(entry: ModelEntry, gpu: str) -> DeploymentSpec:
    """The request whose pinned-GPU plan the table answers (priced per GPU on nodes of
    ``NODE_GPUS``, so more GPUs always cost more and only fitting decides the count)."""
    return DeploymentSpec(
        model=entry.id,
        tier=TIER,
        gpu=gpu,
        quantization="none",
        kv_cache_dtype="auto",
        context_length=context(entry),
        cloud="onprem",
        usd_per_gpu_hour=1.0,
    )


@functools.cache
def fits_on(entry: ModelEntry) -> tuple[Fit, ...]:
    """The GPU types (catalog order) one replica of ``entry`` fits on, each with the fewest
    GPUs of that type on one node."""
    found = []
    for gpu in gpu_catalog.load().all():
        if gpu.vendor in explaining.SERVED_VENDORS:
            count = fewest(entry, gpu)
            if count is not None:
                found.append(Fit(gpu.id, count))
    return tuple(found)


def fewest(entry: ModelEntry, gpu: gpu_catalog.GPU) -> int | None:
    """The fewest GPUs of ``gpu`` on one node that take a ``context(entry)``-token request
    at the model's precision; None when a full node does not."""
    tier = tiers.get(TIER)
    arch = entry.arch
    target = context(entry)
    sizing = placement.Sizing(
        target_context=target,
        floor_context=target,  # the context is pinned, as in ``request``
        min_concurrency=1,
        gpu_memory_utilization=tier.gpu_memory_utilization,
        vllm_version=engine_profiles.DEFAULT_VLLM_VERSION,
        utilisation_for_cost=tier.utilisation_for_cost,
    )
    offer = placement.Offer(
        gpu=gpu,
        gpus_per_node=NODE_GPUS,
        max_nodes=1,
        usd_per_gpu_hour=None,
        instance_type=None,
        cloud=None,
        source="catalog fits-on",
    )
    quantization = precision.resolve_quantization("none", arch)
    for count in placement.gpu_counts(offer, None):
        option = placement.evaluate(
            arch,
            offer=offer,
            count=count,
            sizing=sizing,
            quantization=quantization,
            kv_cache_dtype="auto",
        )
        if option.fits_target:
            return count
    return None


def pools_of(facts: ClusterFacts, gpus: gpu_catalog.GpuCatalog | None = None) -> tuple[Pool, ...]:
    """The cluster's GPU pools whose GPU the catalog knows (others cannot be planned for)."""
    catalog = gpus or gpu_catalog.load()
    found = []
    for pool in facts.gpu_pools():
        try:
            gpu = catalog.get(pool.gpu or "")
        except NotFoundError:
            continue
        found.append(Pool(pool.name, gpu.id, pool.gpus_per_node))
    return tuple(found)


def fits_pools(fits: Iterable[Mapping[str, Any]], pools: Sequence[Pool]) -> bool:
    """Whether one of ``fits`` (rows: gpu, count) fits on a node of one of ``pools``."""
    return any(f["gpu"] == p.gpu and f["count"] <= p.gpus_per_node for f in fits for p in pools)


class PoolCache:
    """The GPU pools of the cluster behind one connection, kept ``POOLS_TTL_S`` (a failure
    ``FAILED_TTL_S``), so a page that filters by them does not read every node each time.

    One entry: a new connection (the server switched clusters) replaces it.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entry: tuple[object, float, tuple[Pool, ...] | KubeFoundryError] | None = None

    def pools(self, conn: object, discover: Callable[[], ClusterFacts]) -> tuple[Pool, ...]:
        """The pools for ``conn``, from the cache or ``discover()``; a failure is raised
        again (from the cache too) as the ``KubeFoundryError`` it was."""
        now = self._clock()
        with self._lock:
            entry = self._entry
        if entry is not None and entry[0] is conn and entry[1] > now:
            return _value(entry[2])
        value: tuple[Pool, ...] | KubeFoundryError
        try:
            value = pools_of(discover())
            until = now + POOLS_TTL_S
        except KubeFoundryError as exc:
            value, until = exc, now + FAILED_TTL_S
        with self._lock:
            self._entry = (conn, until, value)
        return _value(value)

    @classmethod
    def on(cls, holder: Any) -> PoolCache:
        """The cache kept on ``holder`` (the app's state, shared by its pages and API)."""
        found = getattr(holder, "catalog_pools", None)
        if not isinstance(found, PoolCache):
            found = cls()
            holder.catalog_pools = found
        return found


def _value(value: tuple[Pool, ...] | KubeFoundryError) -> tuple[Pool, ...]:
    if isinstance(value, KubeFoundryError):
        raise value
    return value
