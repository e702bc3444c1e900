"""Shared helpers for renderer tests: catalog plans, real-schema validation, golden files.

Golden files live in tests/golden/<runtime>/<scenario>.yaml and are reviewed like code.
Regenerate them with ``KUBEFOUNDRY_UPDATE_GOLDEN=1 pytest tests/unit/runtimes`` and read the
diff before committing.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from kubefoundry.catalog import gpus, instances, models
from kubefoundry.checks.schemas import Schemas
from kubefoundry.core.errors import DoesNotFitError
from kubefoundry.core.facts import ClusterFacts
from kubefoundry.core.spec import DeploymentSpec
from kubefoundry.planning import planner, tiers
from kubefoundry.planning.plans import Plan

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CANARY = "hf_CANARYtokenValue0123456789abcdefXYZ"  # a token value that must never be rendered
NO_SCHEMA_KINDS = {("apisix.apache.org/v2", "ApisixRoute")}  # no CRD for it in shared/crds


@functools.lru_cache(maxsize=1)
def catalog() -> models.ModelCatalog:
    return models.ModelCatalog.load()


@functools.lru_cache(maxsize=1)
def schemas() -> Schemas:
    return Schemas.load()


def plan(model: str, facts: ClusterFacts | None = None, **pins: Any) -> Plan:
    request = DeploymentSpec.model_validate({"model": model, **pins})
    return planner.plan(
        request, catalog().get(model), gpus=gpus.load(), instances=instances.load(), facts=facts
    )


@functools.lru_cache(maxsize=1)
def catalog_plans() -> tuple[tuple[str, str, Plan], ...]:
    """Every catalog model × tier the planner accepts (model id, tier, plan)."""
    out = []
    for entry in catalog().all():
        for tier in tiers.all_tiers():
            try:
                out.append((entry.id, tier.name, plan(entry.id, tier=tier.name)))
            except DoesNotFitError:
                continue
    return tuple(out)


def schema_problems(manifests: Iterable[dict[str, Any]]) -> list[str]:
    """Every schema error (and every kind without a schema) in ``manifests``, as text."""
    problems = []
    for m in manifests:
        ref = f"{m.get('kind')}/{(m.get('metadata') or {}).get('name')}"
        errors = schemas().validate(m)
        if errors is None:
            if (m.get("apiVersion"), m.get("kind")) not in NO_SCHEMA_KINDS:
                problems.append(f"{ref}: no schema for {m.get('apiVersion')} {m.get('kind')}")
            continue
        problems += [f"{ref}: {e.path}: {e.message}" for e in errors]
    return problems


def dump(manifests: Sequence[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(list(manifests), sort_keys=False, width=100)


def assert_golden(name: str, manifests: Sequence[dict[str, Any]]) -> None:
    """Compare with tests/golden/<name>.yaml; rewrite it when KUBEFOUNDRY_UPDATE_GOLDEN=1."""
    path = GOLDEN / f"{name}.yaml"
    text = dump(manifests)
    if os.environ.get("KUBEFOUNDRY_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if not path.exists():
        raise AssertionError(
            f"golden file {path} is missing; write it with KUBEFOUNDRY_UPDATE_GOLDEN=1, review it"
        )
    assert text == path.read_text(), (
        f"{name} differs from its golden file; if the change is intended, regenerate with "
        "KUBEFOUNDRY_UPDATE_GOLDEN=1 and review the diff"
    )


def walk(node: Any) -> Iterator[Any]:
    """Every scalar in a manifest (for canary searches)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield k
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)
    else:
        yield node


def find(manifests: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in manifests if m.get("kind") == kind]


def replicas(manifests: Sequence[dict[str, Any]], workload: dict[str, Any]) -> int:
    """The count a workload runs at first: its ``spec.replicas``, or, where a ScaledObject of
    the set targets it (and so owns the field, which the renderer then leaves out), the
    ScaledObject's ``minReplicaCount`` (at least 1: created at its kind's default of one, the
    HPA raises it to the floor; KEDA alone takes it to zero when idle). A workload with
    neither is a failure, not a 1."""
    spec = workload["spec"]
    name, kind = workload["metadata"]["name"], workload["kind"]
    scalers = [
        s
        for s in find(manifests, "ScaledObject")
        if (
            s["spec"]["scaleTargetRef"].get("kind", "Deployment"),
            s["spec"]["scaleTargetRef"]["name"],
        )
        == (kind, name)
    ]
    assert not (scalers and "replicas" in spec), f"{kind}/{name}: replicas and a ScaledObject"
    if "replicas" in spec:
        return int(spec["replicas"])
    assert len(scalers) == 1, f"{kind}/{name}: no replicas and no ScaledObject targeting it"
    return max(1, int(scalers[0]["spec"]["minReplicaCount"]))
