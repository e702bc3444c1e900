"""What a RayService's ``serveConfigV2`` (YAML inside a YAML string) asks of the cluster.

For each Serve deployment: GPUs per replica (``ray_actor_options.num_gpus``, the sum of
``placement_group_bundles``, or tensor × pipeline parallel for Ray Serve LLM's
``llm_configs``), the largest single unit that must fit in one pod, and the replica range
(``num_replicas`` or ``autoscaling_config``). Also every ``runtime_env.env_vars`` block.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import yaml

from kubefoundry.checks import engines
from kubefoundry.checks.documents import items, join, mapping, text, to_float, to_int
from kubefoundry.checks.engines import EngineArgs

AUTO_MAX_REPLICAS = 100  # Ray Serve's max_replicas for num_replicas: "auto"


@dataclasses.dataclass(frozen=True)
class ServeDeployment:
    name: str
    path: str  # inside the Serve config, e.g. applications[0].deployments[1]
    gpus: float | None  # per replica; None when the config does not say (set in code)
    largest_unit: float  # the most GPUs one actor or bundle needs on a single pod
    min_replicas: int
    max_replicas: int
    engine: EngineArgs | None = None  # Ray Serve LLM engine_kwargs
    accelerator: str | None = None  # Ray Serve LLM accelerator_type


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    deployments: tuple[ServeDeployment, ...]
    env_blocks: tuple[tuple[str, Mapping[str, Any]], ...]  # (path, env_vars)
    raw: Mapping[str, Any]


class ServeConfigError(ValueError):
    def __init__(self, problem: str, line: int | None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = line  # 1-based line inside the string


def parse(source: str) -> ServeConfig:
    try:
        raw = yaml.safe_load(source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise ServeConfigError(problem, mark.line + 1 if mark else None) from None
    except yaml.YAMLError:
        raise ServeConfigError("invalid YAML", None) from None
    if not isinstance(raw, Mapping) or not isinstance(raw.get("applications"), list):
        raise ServeConfigError("it must be a mapping with an 'applications:' list", None)
    deployments: list[ServeDeployment] = []
    envs: list[tuple[str, Mapping[str, Any]]] = []
    for a, app in enumerate(items(raw, "applications")):
        base = join("applications", a)
        envs += _env(app, base)
        for d, dep in enumerate(items(app, "deployments")):
            path = join(base, "deployments", d)
            deployments.append(_deployment(dep, path))
            envs += _env(mapping(dep, "ray_actor_options"), join(path, "ray_actor_options"))
        for c, cfg in enumerate(items(app, "args", "llm_configs")):
            if isinstance(cfg, Mapping):
                path = join(base, "args", "llm_configs", c)
                deployments.append(_llm(cfg, path))
                envs += _env(cfg, path)
    return ServeConfig(deployments=tuple(deployments), env_blocks=tuple(envs), raw=raw)


def _env(node: Any, path: str) -> list[tuple[str, Mapping[str, Any]]]:
    env = mapping(node, "runtime_env", "env_vars")
    return [(join(path, "runtime_env", "env_vars"), env)] if env else []


def _replicas(node: Mapping[str, Any]) -> tuple[int, int]:
    auto = mapping(node, "autoscaling_config")
    if node.get("num_replicas") == "auto" or auto:
        low = to_int(auto.get("min_replicas"))
        low = low if low is not None else 1
        start = to_int(auto.get("initial_replicas"))
        high = to_int(auto.get("max_replicas")) or (AUTO_MAX_REPLICAS if not auto else 1)
        return max(1, start if start is not None else low), max(high, low, 1)
    count = to_int(node.get("num_replicas"))
    count = count if count is not None else 1
    return count, count


def _deployment(dep: Any, path: str) -> ServeDeployment:
    options = mapping(dep, "ray_actor_options")
    actor = to_float(options.get("num_gpus"))
    bundles = [
        to_float(mapping(b).get("GPU")) or 0.0 for b in items(dep, "placement_group_bundles")
    ]
    low, high = _replicas(dep if isinstance(dep, Mapping) else {})
    if bundles:
        strict = text(dep, "placement_group_strategy") == "STRICT_PACK"
        gpus: float | None = sum(bundles)
        largest = sum(bundles) if strict else max(bundles)
    else:
        gpus, largest = actor, actor or 0.0
    name = text(dep, "name") or path
    return ServeDeployment(name, path, gpus, largest, low, high)


def _llm(cfg: Mapping[str, Any], path: str) -> ServeDeployment:
    kwargs = mapping(cfg, "engine_kwargs")
    model = text(cfg, "model_loading_config", "model_source") or text(
        cfg, "model_loading_config", "model_id"
    )
    engine = engines.from_kwargs(kwargs, model=model)
    bundles = [
        to_float(mapping(b).get("GPU")) or 0.0
        for b in items(cfg, "placement_group_config", "bundles")
    ]
    strict = text(cfg, "placement_group_config", "strategy") == "STRICT_PACK"
    gpus = float(sum(bundles)) if bundles else float((engine.tp or 1) * (engine.pp or 1))
    largest = gpus if strict else (max(bundles) if bundles else min(gpus, 1.0))
    low, high = _replicas(mapping(cfg, "deployment_config"))
    name = text(cfg, "model_loading_config", "model_id") or path
    accelerator = text(cfg, "accelerator_type")
    return ServeDeployment(name, path, gpus, largest, low, high, engine, accelerator)
