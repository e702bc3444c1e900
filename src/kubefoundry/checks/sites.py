"""Every place an object starts an inference engine, with what it needs to be sized.

An :class:`EngineSite` joins the engine settings (wherever they are written) with the GPUs
the engine may use, the GPU type it will land on, the model it serves, and the container
whose probes guard it. Containers of every pod-bearing kind, Ray Serve LLM's
``llm_configs`` and KAITO workspaces all become sites, so the sizing and probe rules are
written once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from kubefoundry.catalog.models import ModelEntry
from kubefoundry.checks import engines, hardware, kaito, rayserve, workloads
from kubefoundry.checks.context import Context
from kubefoundry.checks.documents import Document, items, join, mapping, number, text
from kubefoundry.checks.engines import EngineArgs
from kubefoundry.core.errors import KubeFoundryError

FlagStyle = Literal["cli", "kwargs", "kaito"]


@dataclasses.dataclass(frozen=True)
class EngineSite:
    path: str  # where the engine settings are written
    engine: EngineArgs
    gpus: int | None  # GPUs the engine may use; None when the object does not say
    group: str  # how to name those GPUs in a message ("the container", "the LWS group …")
    hardware: hardware.Hardware | None
    model: ModelEntry | None
    style: FlagStyle = "cli"
    container: Mapping[str, Any] | None = None  # whose probes guard the engine
    container_path: str = ""
    fetches_model: bool = False
    default_utilization: float = 0.9

    def flag(self, name: str, value: object) -> str:
        """How to write ``--name value`` where this site's settings live."""
        if self.style == "kwargs":
            return f"{name.replace('-', '_')}: {value}"
        if self.style == "kaito":
            return f"{name}: {value}"
        return f"--{name} {value}"


def serve_config(doc: Document) -> rayserve.ServeConfig | None:
    raw = text(doc.obj, "spec", "serveConfigV2")
    if doc.kind != "RayService" or raw is None:
        return None
    try:
        return rayserve.parse(raw)
    except rayserve.ServeConfigError:
        return None


def engine_sites(doc: Document, ctx: Context) -> list[EngineSite]:
    return [*_containers(doc, ctx), *_ray(doc, ctx), *_kaito(doc, ctx)]


def _containers(doc: Document, ctx: Context) -> list[EngineSite]:
    out = []
    for c in workloads.containers(doc):
        args = "args" if items(c.container, "args") else "command"
        out.append(
            EngineSite(
                path=join(c.path, args),
                engine=c.engine,
                gpus=c.group_gpus,
                group=c.group,
                hardware=hardware.for_pod(c.pod.spec, ctx),
                model=hardware.model(c.engine.model, ctx),
                container=c.container,
                container_path=c.path,
                fetches_model=c.fetches_model,
            )
        )
    return out


def _ray(doc: Document, ctx: Context) -> list[EngineSite]:
    config = serve_config(doc)
    if config is None:
        return []
    workers = [p for p in workloads.pods(doc) if p.role != "head"]
    pod_hw = next((hw for p in workers if (hw := hardware.for_pod(p.spec, ctx))), None)
    out = []
    for dep in config.deployments:
        if dep.engine is None:
            continue
        hw = pod_hw
        if dep.accelerator:
            try:
                gpu = ctx.catalogs.gpus.get(dep.accelerator)
                hw = hardware.Hardware(gpu=gpu, source=f"accelerator_type {dep.accelerator}")
            except KubeFoundryError:
                pass
        out.append(
            EngineSite(
                path=f"spec.serveConfigV2 → {dep.path}.engine_kwargs",
                engine=dep.engine,
                gpus=None,  # ray-gpu-mismatch compares Serve with the Ray pods
                group="the Serve replica",
                hardware=hw,
                model=hardware.model(dep.engine.model, ctx),
                style="kwargs",
            )
        )
    return out


def _kaito(doc: Document, ctx: Context) -> list[EngineSite]:
    if doc.kind not in kaito.KINDS:
        return []
    prefix, base = kaito.base(doc)
    instance_type = text(base, "resource", "instanceType")
    hw = hardware.instance(instance_type, ctx) if instance_type else None
    cfg = kaito.config(doc, ctx)
    vllm = mapping(cfg.data, "vllm") if cfg and cfg.data else {}
    nodes = max(1, number(base, "resource", "count") or 1)
    per_node = hw.gpus_per_node if hw else None
    # KAITO passes --tensor-parallel-size = GPUs per node itself; the ConfigMap overrides it.
    engine = engines.from_kwargs(vllm, model=kaito.preset(doc))
    engine = engine.merged(tensor_parallel_size=per_node, pipeline_parallel_size=nodes)
    where = (
        f"ConfigMap {kaito.config_name(doc)} {kaito.CONFIG_KEY} vllm"
        if vllm
        else join(prefix, "inference")
    )
    return [
        EngineSite(
            path=where,
            engine=engine,
            gpus=per_node * nodes if per_node else None,
            group=f"{nodes} × {instance_type}" if nodes > 1 else f"one {instance_type} node",
            hardware=hw,
            model=hardware.model(kaito.preset(doc), ctx),
            style="kaito",
            default_utilization=kaito.DEFAULT_GPU_MEMORY_UTILIZATION,
        )
    ]
