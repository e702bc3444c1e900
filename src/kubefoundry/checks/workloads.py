"""Where the pods and containers of every kind we know live, and what GPUs they get.

One walker per kind family turns an object into :class:`PodSite` s (a pod spec and where it
is) and :class:`ContainerSite` s (a container, its pod, the GPUs it gets, the GPUs an engine
started in it may span, and its engine settings with what the object says around it: the
KServe ``storageUri``, LLMInferenceService ``parallelism``). Kinds with no pod template of
their own (KAITO, the Ray Serve application) are read by their own rules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from kubefoundry.checks import engines, hardware
from kubefoundry.checks.documents import Document, dig, items, join, mapping, number, text
from kubefoundry.checks.engines import EngineArgs

_TEMPLATE = ("spec", "template", "spec")
POD_PATHS: Mapping[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": _TEMPLATE,
    "StatefulSet": _TEMPLATE,
    "ReplicaSet": _TEMPLATE,
    "DaemonSet": _TEMPLATE,
    "Job": _TEMPLATE,
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "ServingRuntime": ("spec",),
    "ClusterServingRuntime": ("spec",),
}


@dataclasses.dataclass(frozen=True)
class PodSite:
    path: str
    spec: Mapping[str, Any]
    role: str = "pod"
    pods: int = 1  # pods of this shape in one serving group (LWS size, Dynamo nodeCount)


@dataclasses.dataclass(frozen=True)
class ContainerSite:
    path: str
    container: Mapping[str, Any]
    pod: PodSite
    gpus: int  # GPUs this container requests
    group_gpus: int | None  # GPUs an engine started here may span; None when not known
    group: str  # how to name that group in a message
    engine: EngineArgs
    fetches_model: bool = False  # the runtime downloads the weights before it starts


def pods(doc: Document) -> list[PodSite]:
    """Every pod spec in the object, with its path."""
    return [site for site, _ in _walk(doc)]


def containers(doc: Document) -> list[ContainerSite]:
    return [c for _, cs in _walk(doc) for c in cs]


def _walk(doc: Document) -> list[tuple[PodSite, list[ContainerSite]]]:
    kind, obj = doc.kind, doc.obj
    if kind in POD_PATHS:
        site = PodSite(".".join(POD_PATHS[kind]), mapping(obj, *POD_PATHS[kind]))
        fetches = kind in ("ServingRuntime", "ClusterServingRuntime")
        return [(site, _plain(site, fetches=fetches))]
    walker = _WALKERS.get(kind)
    return list(walker(obj)) if walker else []


def _plain(site: PodSite, *, fetches: bool = False) -> list[ContainerSite]:
    out = []
    for i, c in enumerate(items(site.spec, "containers")):
        if isinstance(c, Mapping):
            gpus = hardware.gpu_count(c.get("resources"))
            out.append(
                ContainerSite(
                    path=join(site.path, "containers", i),
                    container=c,
                    pod=site,
                    gpus=gpus,
                    group_gpus=gpus,
                    group="the container",
                    engine=engines.from_container(c),
                    fetches_model=fetches,
                )
            )
    return out


def _pod_gpus(sites: list[ContainerSite]) -> int:
    return sum(c.gpus for c in sites)


def _lws(obj: Any) -> Iterator[tuple[PodSite, list[ContainerSite]]]:
    base = ("spec", "leaderWorkerTemplate")
    size = max(1, number(obj, *base, "size") or 1)
    worker = PodSite(
        join(*base, "workerTemplate", "spec"),
        mapping(obj, *base, "workerTemplate", "spec"),
        "worker",
        size,
    )
    worker_cs = _plain(worker)
    if dig(obj, *base, "leaderTemplate") is None:
        total = size * _pod_gpus(worker_cs)
        yield (
            worker,
            [_grouped(c, total, f"the LWS group ({size} pods × {c.gpus} GPUs)") for c in worker_cs],
        )
        return
    leader = PodSite(
        join(*base, "leaderTemplate", "spec"),
        mapping(obj, *base, "leaderTemplate", "spec"),
        "leader",
    )
    leader_cs = _plain(leader)
    per_worker = _pod_gpus(worker_cs)
    for c in leader_cs:
        total = c.gpus + (size - 1) * per_worker
        label = f"the LWS group (leader {c.gpus} + {size - 1} worker(s) × {per_worker} GPUs)"
        yield leader, [_grouped(c, total, label)]
    yield worker, [_grouped(c, None, "the LWS group") for c in worker_cs]


def _grouped(c: ContainerSite, total: int | None, label: str) -> ContainerSite:
    return dataclasses.replace(c, group_gpus=total, group=label)


def _dynamo(obj: Any) -> Iterator[tuple[PodSite, list[ContainerSite]]]:
    for i, comp in enumerate(items(obj, "spec", "components")):  # v1beta1
        nodes = max(1, number(comp, "multinode", "nodeCount") or 1)
        name = text(comp, "name") or str(i)
        site = PodSite(
            join("spec", "components", i, "podTemplate", "spec"),
            mapping(comp, "podTemplate", "spec"),
            name,
            nodes,
        )
        cs = _plain(site)
        yield site, [_grouped(c, c.gpus * nodes, _nodes_label(c.gpus, nodes)) for c in cs]
    for name, svc in mapping(obj, "spec", "services").items():  # v1alpha1
        nodes = max(1, number(svc, "multinode", "nodeCount") or 1)
        path = join("spec", "services", str(name), "extraPodSpec")
        site = PodSite(path, mapping(svc, "extraPodSpec"), str(name), nodes)
        cs = _plain(site)
        main = mapping(svc, "extraPodSpec", "mainContainer")
        if main:
            merged = {**main}
            for probe in ("livenessProbe", "readinessProbe"):
                if probe not in merged and isinstance(svc.get(probe), Mapping):
                    merged[probe] = svc[probe]
            gpus = hardware.gpu_count(main.get("resources")) or hardware.dynamo_gpu_count(
                svc.get("resources")
            )
            main_site = ContainerSite(
                path=join(path, "mainContainer"),
                container=merged,
                pod=site,
                gpus=gpus,
                group_gpus=gpus,
                group="the container",
                engine=engines.from_container(main),
            )
            cs.insert(0, main_site)
        yield site, [_grouped(c, c.gpus * nodes, _nodes_label(c.gpus, nodes)) for c in cs]


def _nodes_label(gpus: int, nodes: int) -> str:
    return (
        "the container" if nodes == 1 else f"the multinode component ({nodes} nodes × {gpus} GPUs)"
    )


def _isvc(obj: Any) -> Iterator[tuple[PodSite, list[ContainerSite]]]:
    predictor = mapping(obj, "spec", "predictor")
    site = PodSite("spec.predictor", predictor, "predictor")
    multi = isinstance(predictor.get("workerSpec"), Mapping)
    out = _plain(site, fetches=True)
    model = mapping(predictor, "model")
    if model:
        engine = engines.from_container(model)
        fmt = (text(model, "modelFormat", "name") or "").lower()
        backend = engine.flags.get("backend", "vllm")
        vllm = fmt == "vllm" or (fmt == "huggingface" and backend == "vllm")
        uri = text(model, "storageUri")
        engine = dataclasses.replace(
            engine, model=engine.model or uri, is_vllm=vllm or engine.is_vllm
        )
        gpus = hardware.gpu_count(model.get("resources"))
        model_site = ContainerSite(
            path="spec.predictor.model",
            container=model,
            pod=site,
            gpus=gpus,
            group_gpus=gpus,
            group="the predictor",
            engine=engine,
            fetches_model=bool(uri),
        )
        out.insert(0, model_site)
    if multi:
        out = [_grouped(c, None, "the multi-node predictor") for c in out]
    yield site, out
    if multi:
        worker = PodSite("spec.predictor.workerSpec", mapping(predictor, "workerSpec"), "worker")
        yield worker, [_grouped(c, None, "the multi-node predictor") for c in _plain(worker)]


def _llmisvc(obj: Any) -> Iterator[tuple[PodSite, list[ContainerSite]]]:
    spec = mapping(obj, "spec")
    uri = text(spec, "model", "uri")
    par = mapping(spec, "parallelism")
    multi = isinstance(spec.get("worker"), Mapping)
    for path in (("template",), ("prefill", "template"), ("worker",)):
        site = PodSite(join("spec", *path), mapping(spec, *path), ".".join(path))
        out = []
        for c in _plain(site, fetches=bool(uri)):
            engine = c.engine
            if text(c.container, "name") == "main":
                engine = engine.merged(
                    tensor_parallel_size=par.get("tensor"),
                    pipeline_parallel_size=par.get("pipeline"),
                    data_parallel_size=par.get("dataLocal") or par.get("data"),
                )
                engine = dataclasses.replace(engine, model=engine.model or uri, is_vllm=True)
            out.append(dataclasses.replace(c, engine=engine))
        if multi:
            out = [_grouped(c, None, "the multi-node workload") for c in out]
        if site.spec:
            yield site, out


def _ray(obj: Any) -> Iterator[tuple[PodSite, list[ContainerSite]]]:
    cluster = mapping(obj, "spec", "rayClusterConfig") or mapping(obj, "spec")
    prefix = "spec.rayClusterConfig" if mapping(obj, "spec", "rayClusterConfig") else "spec"
    head = PodSite(
        join(prefix, "headGroupSpec", "template", "spec"),
        mapping(cluster, "headGroupSpec", "template", "spec"),
        "head",
    )
    yield head, [_grouped(c, None, "the Ray head") for c in _plain(head)]
    for i, group in enumerate(items(cluster, "workerGroupSpecs")):
        name = text(group, "groupName") or f"worker group {i}"
        site = PodSite(
            join(prefix, "workerGroupSpecs", i, "template", "spec"),
            mapping(group, "template", "spec"),
            name,
        )
        yield site, [_grouped(c, None, f"Ray worker group {name}") for c in _plain(site)]


_WALKERS = {
    "LeaderWorkerSet": _lws,
    "DynamoGraphDeployment": _dynamo,
    "InferenceService": _isvc,
    "LLMInferenceService": _llmisvc,
    "RayService": _ray,
    "RayCluster": _ray,
}
