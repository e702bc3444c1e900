"""The GPU catalog: accelerator facts, node labels and taints per platform, name lookup.

Reads ``data/gpus.json`` (package data, schema version 1; refreshed by
``scripts/refresh_hardware_data.py``) into frozen dataclasses. Every fact in that file names
its source. ``load()`` reads it once, on first call; nothing happens at import time.

Names resolve case- and punctuation-insensitively from ids ("H100-80GB-SXM"), aliases
("H100", "a100") and the label values nodes carry ("NVIDIA-H100-80GB-HBM3", "nvidia-l4").
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any

from kubefoundry.core import naming
from kubefoundry.core.errors import InvalidInputError, KubeFoundryError, NotFoundError

SCHEMA_VERSION = 1
PLATFORMS = ("gfd", "gke", "eks", "aks", "aks-nap")
DTYPES = ("bf16", "fp16", "fp8", "int8")
_DTYPE_ALIASES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float8": "fp8"}
_RESOURCE_PLACEHOLDER = "{resource_name}"


@dataclass(frozen=True)
class Platform:
    """How one platform labels and taints GPU nodes."""

    name: str
    description: str
    label_keys: tuple[str, ...]
    identifies_model: bool  # False: the label names only the vendor (AKS node pools)
    taint_notes: str
    sources: tuple[str, ...]
    toleration_templates: tuple[Mapping[str, str], ...] = field(compare=False, repr=False)


@dataclass(frozen=True)
class GPU:
    """One accelerator model. Memory in GiB unless named otherwise; TFLOPS are dense."""

    id: str
    vendor: str
    name: str
    architecture: str
    form_factor: str
    memory_gb: float  # vendor nominal
    memory_type: str
    memory_bandwidth_gbps: float
    bf16_dense_tflops: float | None
    fp16_dense_tflops: float | None
    fp8_dense_tflops: float | None
    int8_dense_tops: float | None
    bf16_supported: bool
    fp8_supported: bool
    interconnect: str
    nvlink_gbps_bidirectional: float | None
    compute_capability: str | None  # NVIDIA only, e.g. "9.0"
    resource_name: str  # the extended resource pods request: nvidia.com/gpu, amd.com/gpu, ...
    cuda_total_gib: float  # total memory as CUDA reports it; what vLLM budgets from
    cuda_total_basis: str  # "measured" or "derived"
    cuda_total_source: str
    aliases: tuple[str, ...]
    confidence: str
    sources: tuple[str, ...]
    notes: str
    node_labels: Mapping[str, Mapping[str, str]] = field(compare=False, repr=False)
    label_variants: Mapping[str, tuple[str, ...]] = field(compare=False, repr=False)
    platform_info: Mapping[str, Platform] = field(compare=False, repr=False)

    @property
    def label_platforms(self) -> tuple[str, ...]:
        """Platforms whose nodes carry a label for this GPU."""
        return tuple(p for p in PLATFORMS if p in self.node_labels)

    def node_selector(self, platform: str) -> dict[str, str]:
        """The nodeSelector that lands a pod on this GPU on ``platform``."""
        platform = _check_platform(platform)
        labels = self.node_labels.get(platform)
        if labels is None:
            where = ", ".join(self.label_platforms) or "none"
            raise InvalidInputError(
                f"{self.id} has no node label on {platform} "
                f"({self.platform_info[platform].description}).",
                hint=f"Platforms that label {self.id}: {where}. Deploy there, pick another "
                "GPU, or give the node selector yourself.",
            )
        return dict(labels)

    def tolerations(self, platform: str) -> list[dict[str, str]]:
        """Tolerations for the taints ``platform`` commonly puts on nodes with this GPU."""
        templates = self.platform_info[_check_platform(platform)].toleration_templates
        result: list[dict[str, str]] = []
        for template in templates:
            toleration = {
                k: v.replace(_RESOURCE_PLACEHOLDER, self.resource_name) for k, v in template.items()
            }
            if toleration not in result:
                result.append(toleration)
        return result

    def dense_tflops(self, dtype: str) -> float | None:
        """Peak dense TFLOPS (TOPS for int8) at ``dtype``; None where the GPU lacks it."""
        kind = _DTYPE_ALIASES.get(dtype.lower(), dtype.lower())
        if kind == "bf16":
            # Turing has no bf16; vLLM runs bf16 checkpoints in fp16 there.
            return self.bf16_dense_tflops if self.bf16_supported else self.fp16_dense_tflops
        if kind == "fp16":
            return self.fp16_dense_tflops
        if kind == "fp8":
            return self.fp8_dense_tflops if self.fp8_supported else None
        if kind == "int8":
            return self.int8_dense_tops
        raise NotFoundError(
            kind="dtype",
            name=dtype,
            suggestions=naming.suggest(dtype, DTYPES),
            hint="Valid dtypes: " + ", ".join(DTYPES) + ".",
        )


@dataclass(frozen=True)
class GpuCatalog:
    """All GPUs, looked up by id, alias or node label value."""

    schema_version: int
    generated_on: str
    gpus: tuple[GPU, ...]
    platforms: Mapping[str, Platform] = field(compare=False, repr=False)
    index: Mapping[str, GPU] = field(compare=False, repr=False)

    def all(self) -> tuple[GPU, ...]:
        return self.gpus

    def ids(self) -> tuple[str, ...]:
        return tuple(g.id for g in self.gpus)

    def get(self, name: str) -> GPU:
        """The GPU an id, alias or label value names; NotFoundError with close matches."""
        gpu = self.index.get(_fold(name))
        if gpu is None:
            # One spelling per folded name, the id where an alias folds to the same.
            spellings = {
                re.sub(r"[^a-z0-9]", "", n.lower()): n
                for g in self.gpus
                for n in (*g.aliases, g.id)
            }
            candidates = list(spellings.values())
            raise NotFoundError(
                kind="GPU",
                name=name,
                suggestions=naming.suggest(name, candidates),
                hint="Known GPUs: " + ", ".join(self.ids()) + ".",
            )
        return gpu

    def platform(self, name: str) -> Platform:
        return self.platforms[_check_platform(name)]

    def same_selector(self, name: str, platform: str) -> tuple[GPU, ...]:
        """Other GPUs the node selector of ``name`` on ``platform`` also matches."""
        gpu = self.get(name)
        selector = gpu.node_selector(platform)
        return tuple(
            g for g in self.gpus if g.id != gpu.id and g.node_labels.get(platform) == selector
        )


def _fold(name: str) -> str:
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    for prefix in ("nvidia", "tesla"):
        key = key.removeprefix(prefix)
    return key


def _check_platform(name: str) -> str:
    if name.lower() in PLATFORMS:
        return name.lower()
    raise NotFoundError(
        kind="platform",
        name=name,
        suggestions=naming.suggest(name, PLATFORMS),
        hint="Valid platforms: " + ", ".join(PLATFORMS) + ".",
    )


def _invalid(message: str) -> KubeFoundryError:
    return KubeFoundryError(
        f"GPU catalog data is invalid: {message}",
        hint="Reinstall kubefoundry, or run scripts/refresh_hardware_data.py.",
    )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _platform(name: str, raw: Mapping[str, Any]) -> Platform:
    return Platform(
        name=name,
        description=str(raw["description"]),
        label_keys=tuple(raw["label_keys"]),
        identifies_model=bool(raw["identifies_model"]),
        taint_notes=str(raw["taint_notes"]),
        sources=tuple(raw["sources"]),
        toleration_templates=tuple(MappingProxyType(dict(t)) for t in raw["tolerations"]),
    )


def _gpu(raw: Mapping[str, Any], platforms: Mapping[str, Platform]) -> GPU:
    labels = {p: MappingProxyType(dict(v)) for p, v in raw["node_labels"].items() if v}
    for platform, selector in labels.items():
        if platform not in platforms or not set(selector) <= set(platforms[platform].label_keys):
            raise _invalid(f"{raw['id']}: bad node_labels for {platform!r}: {dict(selector)}")
    if raw["cuda_total_basis"] not in ("measured", "derived"):
        raise _invalid(f"{raw['id']}: cuda_total_basis must be 'measured' or 'derived'")
    return GPU(
        id=raw["id"],
        vendor=raw["vendor"],
        name=raw["name"],
        architecture=raw["architecture"],
        form_factor=raw["form_factor"],
        memory_gb=float(raw["memory_gb"]),
        memory_type=raw["memory_type"],
        memory_bandwidth_gbps=float(raw["memory_bandwidth_gbps"]),
        bf16_dense_tflops=_optional_float(raw["bf16_dense_tflops"]),
        fp16_dense_tflops=_optional_float(raw["fp16_dense_tflops"]),
        fp8_dense_tflops=_optional_float(raw["fp8_dense_tflops"]),
        int8_dense_tops=_optional_float(raw["int8_dense_tops"]),
        bf16_supported=bool(raw["bf16_supported"]),
        fp8_supported=bool(raw["fp8_supported"]),
        interconnect=raw["interconnect"],
        nvlink_gbps_bidirectional=_optional_float(raw["nvlink_gbps_bidirectional"]),
        compute_capability=raw["compute_capability"],
        resource_name=raw["resource_name"],
        cuda_total_gib=float(raw["cuda_total_gib"]),
        cuda_total_basis=raw["cuda_total_basis"],
        cuda_total_source=raw["cuda_total_source"],
        aliases=tuple(raw["aliases"]),
        confidence=raw["confidence"],
        sources=tuple(raw["sources"]),
        notes=raw["notes"],
        node_labels=MappingProxyType(labels),
        label_variants=MappingProxyType({p: tuple(v) for p, v in raw["label_variants"].items()}),
        platform_info=platforms,
    )


def _label_names(gpu: GPU) -> Iterator[str]:
    """Label values that name ``gpu``: the first label key of model-naming platforms."""
    for platform, labels in gpu.node_labels.items():
        info = gpu.platform_info[platform]
        if info.identifies_model:
            yield labels[info.label_keys[0]]
        yield from gpu.label_variants.get(platform, ())


def _index(gpus: tuple[GPU, ...]) -> Mapping[str, GPU]:
    """Folded name -> GPU. Ids and aliases must be unique; label values only where unique."""
    index: dict[str, GPU] = {}
    for gpu in gpus:
        for name in (gpu.id, *gpu.aliases):
            other = index.setdefault(_fold(name), gpu)
            if other is not gpu:
                raise _invalid(f"{name!r} names both {other.id} and {gpu.id}")
    claims: dict[str, set[str]] = {}
    for gpu in gpus:
        for value in _label_names(gpu):
            key = _fold(value)
            if key and key not in index:
                claims.setdefault(key, set()).add(gpu.id)
    by_id = {g.id: g for g in gpus}
    for key, ids in claims.items():
        if len(ids) == 1:
            index[key] = by_id[next(iter(ids))]
    return MappingProxyType(index)


def parse(data: Mapping[str, Any]) -> GpuCatalog:
    """A catalog from the decoded ``gpus.json`` document; raises if the data is malformed."""
    if data.get("schema_version") != SCHEMA_VERSION:
        raise _invalid(f"schema_version {data.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    try:
        platforms = MappingProxyType(
            {name: _platform(name, raw) for name, raw in data["platforms"].items()}
        )
        if tuple(platforms) != PLATFORMS:
            raise _invalid(f"platforms {tuple(platforms)}, expected {PLATFORMS}")
        gpus = tuple(_gpu(raw, platforms) for raw in data["gpus"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _invalid(f"{type(exc).__name__}: {exc}") from exc
    return GpuCatalog(
        schema_version=SCHEMA_VERSION,
        generated_on=str(data["generated_on"]),
        gpus=gpus,
        platforms=platforms,
        index=_index(gpus),
    )


@functools.cache
def load() -> GpuCatalog:
    """The packaged GPU catalog, read on first call."""
    text = resources.files("kubefoundry.catalog").joinpath("data/gpus.json").read_text("utf-8")
    return parse(json.loads(text))
