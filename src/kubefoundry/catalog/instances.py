"""Cloud GPU instance types and their prices: which machine to rent for N GPUs, at what cost.

Reads ``data/cloud-gpu-instances.csv`` (a byte-for-byte copy of the shared data; schema
version, column list, sources and dates in ``data/instances.meta.json``) into frozen
dataclasses. Every priced row names its price source and date. ``load()`` reads the files
once, on first call. On-prem users bring their own price: see :func:`onprem`.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any

from kubefoundry.catalog import gpus
from kubefoundry.core import naming
from kubefoundry.core.errors import InvalidInputError, KubeFoundryError, NotFoundError

SCHEMA_VERSION = 1
ONPREM = "onprem"


@dataclass(frozen=True)
class InstanceType:
    """One machine type in one region; ``usd_per_hour`` is None where no price is known."""

    cloud: str
    region: str
    name: str
    gpu_id: str  # a GpuCatalog id
    gpu_count: int
    gpu_mem_mib_reported: int | None
    vcpus: int | None
    ram_gib: float | None
    usd_per_hour: float | None  # on-demand, whole instance
    price_source: str
    price_as_of: str | None
    alt_usd_per_hour: float | None
    alt_price_source: str
    spec_source: str
    notes: str

    @property
    def usd_per_gpu_hour(self) -> float | None:
        return None if self.usd_per_hour is None else self.usd_per_hour / self.gpu_count


@dataclass(frozen=True)
class InstanceCatalog:
    """All instance types, queried by GPU, count and cloud."""

    schema_version: int
    generated_on: str
    instances: tuple[InstanceType, ...]
    undated_prices: Mapping[str, str] = field(compare=False, repr=False)
    gpu_catalog: gpus.GpuCatalog = field(compare=False, repr=False)
    # The user's own $/GPU-hour per GPU id (on-prem hardware; stored in the server's
    # settings): what the planner prices such GPUs at where no price is pinned.
    own_prices: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False
    )

    def with_own_prices(self, prices: Mapping[str, float]) -> InstanceCatalog:
        """This catalog with the user's own price per GPU (any name the GPU catalog knows)."""
        own = {self.gpu_catalog.get(name).id: float(usd) for name, usd in prices.items()}
        return dataclasses.replace(self, own_prices=MappingProxyType(own))

    def own_price(self, gpu: str) -> float | None:
        """The user's own $/GPU-hour for ``gpu`` (a GPU catalog id), if they gave one."""
        return self.own_prices.get(gpu)

    def all(self) -> tuple[InstanceType, ...]:
        return self.instances

    def clouds(self) -> tuple[str, ...]:
        """Cloud names the catalog covers, e.g. ("aws", "azure", "gcp")."""
        return tuple(sorted({i.cloud for i in self.instances}))

    def resolve_cloud(self, name: str) -> str:
        """``name`` as a known cloud; NotFoundError with close matches on a typo."""
        if name.lower() in self.clouds():
            return name.lower()
        hint = "Valid clouds: " + ", ".join(self.clouds()) + "."
        if name.lower().replace("-", "") == ONPREM:
            hint += " On-prem has no catalog: give your own $/GPU-hour (instances.onprem)."
        raise NotFoundError(
            kind="cloud", name=name, suggestions=naming.suggest(name, self.clouds()), hint=hint
        )

    def get(self, name: str) -> InstanceType:
        """The instance type called ``name`` (exact, case-insensitive)."""
        for instance in self.instances:
            if instance.name.lower() == name.lower():
                return instance
        raise NotFoundError(
            kind="instance type",
            name=name,
            suggestions=naming.suggest(name, [i.name for i in self.instances]),
        )

    def for_gpu(self, gpu: str, cloud: str | None = None) -> tuple[InstanceType, ...]:
        """Instance types with ``gpu`` (any name the GPU catalog resolves), fewest GPUs first."""
        gpu_id = self.gpu_catalog.get(gpu).id
        wanted = None if cloud is None else self.resolve_cloud(cloud)
        found = [i for i in self.instances if i.gpu_id == gpu_id and wanted in (None, i.cloud)]
        return tuple(sorted(found, key=lambda i: (i.gpu_count, _price_key(i), i.cloud, i.name)))

    def cheapest(
        self, gpu: str, *, gpu_count: int, cloud: str | None = None
    ) -> InstanceType | None:
        """The cheapest priced instance with ``gpu_count`` of ``gpu``, else the smallest larger.

        An exact count wins; failing that, the smallest count above it, cheapest first.
        None when no priced instance has that many GPUs (plan several nodes instead).
        """
        if gpu_count < 1:
            raise InvalidInputError(f"gpu_count must be at least 1, got {gpu_count}.")
        priced = [
            i
            for i in self.for_gpu(gpu, cloud)
            if i.usd_per_hour is not None and i.gpu_count >= gpu_count
        ]
        if not priced:
            return None
        return min(priced, key=lambda i: (i.gpu_count, _price_key(i), i.cloud, i.name))

    def usd_per_gpu_hour(self, gpu: str, cloud: str | None = None) -> float | None:
        """The lowest on-demand price per GPU-hour for ``gpu``; None if nothing is priced."""
        prices = [
            i.usd_per_gpu_hour for i in self.for_gpu(gpu, cloud) if i.usd_per_gpu_hour is not None
        ]
        return min(prices, default=None)


def onprem(
    gpu: str,
    *,
    usd_per_gpu_hour: float,
    gpus_per_node: int,
    catalog: gpus.GpuCatalog | None = None,
) -> InstanceType:
    """A synthetic on-prem node type priced at the user's own $/GPU-hour."""
    gpu_id = (catalog or gpus.load()).get(gpu).id
    if gpus_per_node < 1:
        raise InvalidInputError(f"gpus_per_node must be at least 1, got {gpus_per_node}.")
    if usd_per_gpu_hour < 0:
        raise InvalidInputError(
            f"usd_per_gpu_hour must not be negative, got {usd_per_gpu_hour}.",
            hint="Use 0 for hardware that is already paid for.",
        )
    return InstanceType(
        cloud=ONPREM,
        region=ONPREM,
        name=f"{ONPREM}-{gpus_per_node}x{gpu_id}",
        gpu_id=gpu_id,
        gpu_count=gpus_per_node,
        gpu_mem_mib_reported=None,
        vcpus=None,
        ram_gib=None,
        usd_per_hour=usd_per_gpu_hour * gpus_per_node,
        price_source="user-supplied $/GPU-hour",
        price_as_of=None,
        alt_usd_per_hour=None,
        alt_price_source="",
        spec_source="user-supplied",
        notes="on-prem node; price given by the user",
    )


def _price_key(instance: InstanceType) -> float:
    return float("inf") if instance.usd_per_hour is None else instance.usd_per_hour


def _invalid(message: str) -> KubeFoundryError:
    return KubeFoundryError(
        f"Instance catalog data is invalid: {message}",
        hint="Reinstall kubefoundry, or run scripts/refresh_hardware_data.py.",
    )


def _int(value: str) -> int | None:
    return None if value.strip() == "" else int(value)


def _float(value: str) -> float | None:
    return None if value.strip() == "" else float(value)


def _row(row: Mapping[str, str], gpu_catalog: gpus.GpuCatalog) -> InstanceType:
    try:
        gpu_id = gpu_catalog.get(row["gpu_model"]).id
    except NotFoundError as exc:
        raise _invalid(f"{row['instance_type']}: {exc.message}") from exc
    instance = InstanceType(
        cloud=row["cloud"],
        region=row["region"],
        name=row["instance_type"],
        gpu_id=gpu_id,
        gpu_count=int(row["gpu_count"]),
        gpu_mem_mib_reported=_int(row["gpu_mem_mib_reported"]),
        vcpus=_int(row["vcpus"]),
        ram_gib=_float(row["ram_gib"]),
        usd_per_hour=_float(row["ondemand_usd_per_hour"]),
        price_source=row["price_source"],
        price_as_of=row["price_as_of"] or None,
        alt_usd_per_hour=_float(row["alt_price_usd_per_hour"]),
        alt_price_source=row["alt_price_source"],
        spec_source=row["spec_source"],
        notes=row["notes"],
    )
    if instance.gpu_count < 1 or (instance.usd_per_hour is not None and instance.usd_per_hour <= 0):
        raise _invalid(f"{instance.name}: bad GPU count or price")
    return instance


def parse(
    csv_text: str, meta: Mapping[str, Any], *, gpu_catalog: gpus.GpuCatalog
) -> InstanceCatalog:
    """A catalog from the CSV text and its decoded metadata; raises if either is malformed."""
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise _invalid(f"schema_version {meta.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    reader = csv.DictReader(io.StringIO(csv_text))
    if list(reader.fieldnames or ()) != list(meta["columns"]):
        raise _invalid(f"columns {reader.fieldnames} differ from instances.meta.json")
    try:
        instances = tuple(_row(row, gpu_catalog) for row in reader)
    except (KeyError, ValueError) as exc:
        raise _invalid(f"{type(exc).__name__}: {exc}") from exc
    return InstanceCatalog(
        schema_version=SCHEMA_VERSION,
        generated_on=str(meta["generated_on"]),
        instances=instances,
        undated_prices=MappingProxyType(dict(meta.get("undated_prices", {}))),
        gpu_catalog=gpu_catalog,
    )


@functools.cache
def load() -> InstanceCatalog:
    """The packaged instance catalog, read on first call."""
    data = resources.files("kubefoundry.catalog").joinpath("data")
    meta = json.loads(data.joinpath("instances.meta.json").read_text("utf-8"))
    csv_text = data.joinpath(meta["file"]).read_text("utf-8")
    return parse(csv_text, meta, gpu_catalog=gpus.load())
