"""KubeRay RayService rules: the Serve config inside the string, GPUs asked vs GPUs given,
Ray versions, and secrets in ``runtime_env``."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from kubefoundry.checks import hardware, rayserve, sites, tokens
from kubefoundry.checks.context import Context
from kubefoundry.checks.documents import Document, dig, items, join, mapping, text, to_float
from kubefoundry.checks.findings import Finding, Severity, mask

RAY_SERVE_CONFIG_INVALID = "ray-serve-config-invalid"
RAY_GPU_MISMATCH = "ray-gpu-mismatch"
RAY_VERSION_MISMATCH = "ray-version-mismatch"
RAY_SECRET_IN_RUNTIME_ENV = "ray-secret-in-runtime-env"
SERVE_CONFIG = "spec.serveConfigV2"
_RAY_TAG = re.compile(r"^(\d+\.\d+\.\d+)")


def serve_config_invalid(doc: Document, ctx: Context) -> Iterator[Finding]:
    raw = text(doc.obj, "spec", "serveConfigV2")
    if doc.kind != "RayService" or raw is None:
        return
    try:
        rayserve.parse(raw)
    except rayserve.ServeConfigError as exc:
        where = f" at line {exc.line} of the string" if exc.line else ""
        yield doc.finding(
            RAY_SERVE_CONFIG_INVALID,
            Severity.ERROR,
            message=f"serveConfigV2 is not a valid Ray Serve config{where}: {exc.problem}. "
            "KubeRay only finds out at runtime, and the Serve applications never start.",
            fix="Fix the YAML inside the 'serveConfigV2: |' block (indent it consistently "
            "under the '|'); check it with: python -c 'import yaml,sys; "
            "yaml.safe_load(sys.stdin)' < serve.yaml",
            path=SERVE_CONFIG,
        )


@dataclasses.dataclass(frozen=True)
class _Group:
    name: str
    path: str
    gpus_per_pod: float
    pods: int | None  # None: autoscaled without a usable maximum


def _cluster(doc: Document) -> tuple[str, Mapping[str, Any]]:
    if doc.kind == "RayService":
        return "spec.rayClusterConfig", mapping(doc.obj, "spec", "rayClusterConfig")
    return "spec", mapping(doc.obj, "spec")


def _groups(doc: Document) -> list[_Group]:
    prefix, cluster = _cluster(doc)
    autoscaling = cluster.get("enableInTreeAutoscaling") is True
    out = []
    head = mapping(cluster, "headGroupSpec")
    out.append(_Group("head", join(prefix, "headGroupSpec"), _pod_gpus(head), 1))
    for i, group in enumerate(items(cluster, "workerGroupSpecs")):
        if not isinstance(group, Mapping):
            continue
        hosts = max(1, to_float(dig(group, "numOfHosts")) or 1)
        pods = _worker_pods(group, autoscaling=autoscaling)
        pods = None if pods is None else int(pods * hosts)
        name = text(group, "groupName") or f"#{i}"
        out.append(_Group(name, join(prefix, "workerGroupSpecs", i), _pod_gpus(group), pods))
    return out


def _worker_pods(group: Mapping[str, Any], *, autoscaling: bool) -> float | None:
    """Pods of a worker group: replicas clamped to [minReplicas, maxReplicas] as KubeRay does;
    maxReplicas when the autoscaler may add them (None when it has no real maximum)."""
    low = to_float(group.get("minReplicas")) or 0
    high = to_float(group.get("maxReplicas"))
    if autoscaling:
        return None if high is None or high >= 2**31 - 1 else high
    count = max(to_float(group.get("replicas")) or 0, low)
    return min(count, high) if high is not None else count


def _pod_gpus(group: Mapping[str, Any]) -> float:
    declared = to_float(mapping(group, "rayStartParams").get("num-gpus"))
    if declared is not None:
        return declared
    return float(hardware.gpu_count(dig(group, "template", "spec", "containers", 0, "resources")))


def gpu_mismatch(doc: Document, ctx: Context) -> Iterator[Finding]:
    yield from _start_params(doc)
    config = sites.serve_config(doc)
    if config is None:
        return
    groups = _groups(doc)
    largest = max((g.gpus_per_pod for g in groups), default=0.0)
    known = [d for d in config.deployments if d.gpus is not None]
    too_big = [d for d in known if d.largest_unit > largest]
    for dep in too_big:
        yield doc.finding(
            RAY_GPU_MISMATCH,
            Severity.ERROR,
            message=f"Serve deployment {dep.name} needs {dep.largest_unit:g} GPU(s) in one "
            f"Ray pod, but the largest Ray pod offers {largest:g}: the replica stays "
            "PENDING forever and the RayService never becomes ready.",
            fix=f"Give a worker group nvidia.com/gpu: {math.ceil(dep.largest_unit)} per pod "
            f"(and rayStartParams num-gpus to match), or lower {_ask(dep)} to {largest:g}.",
            path=f"{SERVE_CONFIG} → {dep.path}",
        )
    capacity = (
        None
        if any(g.pods is None for g in groups)
        else sum(g.gpus_per_pod * (g.pods or 0) for g in groups)
    )
    if capacity is None or not known or too_big:
        return
    need_min = sum((d.gpus or 0) * d.min_replicas for d in known)
    need_max = sum((d.gpus or 0) * d.max_replicas for d in known)
    fix = _capacity_fix(groups, need_min)
    if need_min > capacity:
        yield doc.finding(
            RAY_GPU_MISMATCH,
            Severity.ERROR,
            message=f"Ray Serve asks for {need_min:g} GPU(s) at start "
            f"({_breakdown(known, low=True)}) but the Ray pods provide {capacity:g}: "
            "replicas wait for GPUs forever and the RayService never becomes ready.",
            fix=fix,
            path=SERVE_CONFIG,
        )
    elif need_max > capacity:
        yield doc.finding(
            RAY_GPU_MISMATCH,
            Severity.WARNING,
            message=f"Serve autoscaling can grow to {need_max:g} GPU(s) "
            f"({_breakdown(known, low=False)}) but the Ray pods provide {capacity:g}: "
            "replicas beyond that stay pending.",
            fix=_capacity_fix(groups, need_max)
            + " Or lower autoscaling_config.max_replicas to what fits.",
            path=SERVE_CONFIG,
        )
    elif len(known) == len(config.deployments) and capacity - need_max >= 1:
        yield doc.finding(
            RAY_GPU_MISMATCH,
            Severity.WARNING,
            message=f"The Ray pods provide {capacity:g} GPUs but Ray Serve uses at most "
            f"{need_max:g}: {capacity - need_max:g} GPU(s) are paid for and idle.",
            fix=_capacity_fix(groups, need_max) + " Or raise the Serve replicas to use them.",
            path=SERVE_CONFIG,
        )


def _ask(dep: rayserve.ServeDeployment) -> str:
    if dep.engine is not None:
        return "engine_kwargs tensor_parallel_size × pipeline_parallel_size"
    return "ray_actor_options.num_gpus (or the placement_group_bundles GPU)"


def _breakdown(deps: list[rayserve.ServeDeployment], *, low: bool) -> str:
    parts = [
        f"{d.name}: {d.min_replicas if low else d.max_replicas} × {d.gpus:g}"
        for d in deps
        if d.gpus
    ]
    return ", ".join(parts) or "none"


def _capacity_fix(groups: list[_Group], need: float) -> str:
    workers = [g for g in groups if g.name != "head" and g.gpus_per_pod > 0] or groups[1:]
    if not workers:
        return f"Add a worker group with nvidia.com/gpu GPUs totalling {need:g}."
    g = workers[0]
    per = g.gpus_per_pod or 1
    return (
        f"Make the GPUs match: worker group {g.name} with {per:g} GPU(s) per pod needs "
        f"replicas: {math.ceil(need / per)} for {need:g} GPU(s) (set it at {g.path}.replicas), "
        "or change the Serve config's GPUs to what the pods have."
    )


def _group_specs(cluster: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(path below the cluster spec, group) for the head and every worker group."""
    return [("headGroupSpec", mapping(cluster, "headGroupSpec"))] + [
        (join("workerGroupSpecs", i), g)
        for i, g in enumerate(items(cluster, "workerGroupSpecs"))
        if isinstance(g, Mapping)
    ]


def _start_params(doc: Document) -> Iterator[Finding]:
    if doc.kind not in ("RayService", "RayCluster"):
        return
    prefix, cluster = _cluster(doc)
    for path, group in _group_specs(cluster):
        declared = to_float(mapping(group, "rayStartParams").get("num-gpus"))
        real = hardware.gpu_count(dig(group, "template", "spec", "containers", 0, "resources"))
        if declared is not None and declared > real:
            yield doc.finding(
                RAY_GPU_MISMATCH,
                Severity.ERROR,
                message=f"rayStartParams num-gpus is {declared:g} but the Ray container "
                f"requests {real} GPU(s): Ray schedules work onto GPUs the pod does not have "
                "and the actors fail or hang.",
                fix=f'Set rayStartParams num-gpus: "{real}" or request nvidia.com/gpu: '
                f"{declared:g} on the container.",
                path=join(prefix, path, "rayStartParams", "num-gpus"),
            )


def version_mismatch(doc: Document, ctx: Context) -> Iterator[Finding]:
    if doc.kind not in ("RayService", "RayCluster"):
        return
    prefix, cluster = _cluster(doc)
    images: list[tuple[str, str, str]] = []  # (path, image, version)
    for site_path, group in _group_specs(cluster):
        for c, container in enumerate(items(group, "template", "spec", "containers")):
            image = text(container, "image") or ""
            version = ray_image_version(image)
            if version:
                path = join(prefix, site_path, "template", "spec", "containers", c, "image")
                images.append((path, image, version))
    versions = hardware.unique(v for _, _, v in images)
    if len(versions) > 1:
        listing = "; ".join(f"{p}: {i}" for p, i, _ in images)
        yield doc.finding(
            RAY_VERSION_MISMATCH,
            Severity.ERROR,
            message=f"The Ray pods run different Ray versions ({', '.join(versions)}): "
            f"nodes of another version cannot join the cluster ({listing}).",
            fix="Use the same Ray image tag for the head and every worker group.",
            path=images[0][0],
        )
    declared = cluster.get("rayVersion")
    declared = str(declared) if isinstance(declared, str | int | float) else None
    for path, image, version in images:
        if declared and version != declared:
            yield doc.finding(
                RAY_VERSION_MISMATCH,
                Severity.WARNING,
                message=f"rayVersion is {declared} but {image} ships Ray {version}: KubeRay "
                "configures the pods for the wrong Ray (start parameters, autoscaler, health "
                "checks), which fails in subtle ways.",
                fix=f"Set {prefix}.rayVersion: '{version}', or use a Ray {declared} image.",
                path=path,
            )
            break


def ray_image_version(image: str) -> str | None:
    repo, _, tag = image.rpartition(":")
    if not repo or "/" in tag or "ray" not in repo.rsplit("/", 1)[-1]:
        return None
    match = _RAY_TAG.match(tag)
    return match[1] if match else None


def secret_in_runtime_env(doc: Document, ctx: Context) -> Iterator[Finding]:
    config = sites.serve_config(doc)
    if config is None:
        return
    pod_fix = (
        "Remove it from runtime_env.env_vars and give the Ray containers (head and workers) "
        "env: [{name: HF_TOKEN, valueFrom: {secretKeyRef: {name: hf-token, key: token}}}]; "
        "Ray workers inherit the pod's environment."
    )
    reported: set[str] = set()
    for path, env in config.env_blocks:
        for name, value in env.items():
            if not isinstance(value, str):
                continue
            where = f"{SERVE_CONFIG} → {path}.{name}"
            if tokens.SHELL_REFERENCE.match(value.strip()):
                yield doc.finding(
                    RAY_SECRET_IN_RUNTIME_ENV,
                    Severity.ERROR,
                    message=f"runtime_env sets {name} to the text {value!r}: Ray does not "
                    "expand variables, so the replica gets that literal string"
                    + (
                        ", not the token, and gated downloads fail with 401."
                        if tokens.is_token_name(name)
                        else "."
                    ),
                    fix=pod_fix
                    if tokens.is_token_name(name)
                    else f"Write the value of {name} itself, or set it on the Ray containers' env.",
                    path=where,
                )
            elif (
                tokens.is_token_name(name) and not tokens.is_placeholder(value)
            ) or tokens.token_values(value):
                reported.update(tokens.token_values(value))
                yield doc.finding(
                    RAY_SECRET_IN_RUNTIME_ENV,
                    Severity.ERROR,
                    message=f"runtime_env sets {name} to a literal credential ({mask(value)}): "
                    "it is stored in the RayService, in etcd and in Git, readable by anyone "
                    "who can read the object.",
                    fix="Revoke that token, then " + pod_fix[0].lower() + pod_fix[1:],
                    path=where,
                )
    raw = text(doc.obj, "spec", "serveConfigV2") or ""
    for value in tokens.token_values(raw):
        if value not in reported:
            reported.add(value)
            yield doc.finding(
                RAY_SECRET_IN_RUNTIME_ENV,
                Severity.ERROR,
                message=f"serveConfigV2 contains a Hugging Face token ({mask(value)}).",
                fix="Revoke that token; read it from a Secret in the pod's env instead "
                "(env.valueFrom.secretKeyRef) and remove it from serveConfigV2.",
                path=SERVE_CONFIG,
            )
