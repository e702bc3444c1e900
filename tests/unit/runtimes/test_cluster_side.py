"""Every runtime declares its side of the cluster completely (``cluster_side``): the roots it
can write, each readable before its operator has said anything; every kind it renders; and
operators whose CRDs are the real upstream ones in shared/crds."""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import Any

import pytest
import yaml
from tests.conftest import SHARED

from kubefoundry.core import files
from kubefoundry.deploy import phases
from kubefoundry.runtimes import registry
from kubefoundry.runtimes.cluster_side import Kind, Reading, Root
from kubefoundry.runtimes.common import objects

REGISTRY = registry.default()
NAMES = REGISTRY.names()
CORE_GROUPS = ("", "apps", "policy", "rbac.authorization.k8s.io", "networking.k8s.io")
# Rendered custom kinds with no CRD among the saved upstream ones, and why.
NOT_SAVED = {"ApisixRoute": "APISIX's CRDs are not in shared/crds (an optional ingress)"}


@functools.cache
def _crd(name: str) -> dict[str, Any]:
    found = sorted((SHARED / "crds").glob(f"*/{name}.yaml"))
    assert len(found) == 1, f"{name}: no CRD file in {SHARED / 'crds'} (INDEX.md lists them)"
    crd: dict[str, Any] = yaml.load(found[0].read_text(), Loader=files.YAML_LOADER)
    return crd


def _served(crd: dict[str, Any]) -> set[str]:
    return {v["name"] for v in crd["spec"]["versions"] if v.get("served", True)}


@pytest.mark.parametrize("name", NAMES)
def test_roots_are_among_the_kinds_the_runtime_renders(name: str) -> None:
    side = REGISTRY.get(name).cluster_side
    assert side.roots, f"{name} declares no root kind"
    for root in side.roots:
        assert root.kind in side.renders, f"{name}: root {root.kind.kind} not in renders"
    assert len(set(side.renders)) == len(side.renders), f"{name} lists a kind twice"


@pytest.mark.parametrize("name", NAMES)
def test_requires_are_the_declared_operators(name: str) -> None:
    runtime = REGISTRY.get(name)
    assert runtime.requires == runtime.cluster_side.requires


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("status", [None, {}])
def test_a_root_its_operator_has_not_touched_says_nothing_yet(
    name: str, status: dict[str, Any] | None
) -> None:
    for root in REGISTRY.get(name).cluster_side.roots:
        obj: dict[str, Any] = {
            "apiVersion": root.kind.api_version,
            "kind": root.kind.kind,
            "metadata": {"name": "x"},
            "spec": {},
        }
        if status is not None:
            obj["status"] = status
        assert root.read(obj) == Reading(ready=None, failure=None), root.kind.kind
        assert root.read({}) == Reading(ready=None, failure=None), root.kind.kind
        assert REGISTRY.root_of(obj) == root


def test_a_kind_declared_as_root_by_several_runtimes_is_read_the_same_way() -> None:
    declared: dict[Kind, set[Root]] = defaultdict(set)
    for runtime in REGISTRY.all():
        for root in runtime.cluster_side.roots:
            declared[root.kind].add(root)
    for kind, roots in declared.items():
        assert len(roots) == 1, f"{kind.kind} is read differently by different runtimes"


def test_root_readiness_goes_through_the_declaring_runtime() -> None:
    lws = {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet"}
    ready = {**lws, "spec": {"replicas": 2}, "status": {"readyReplicas": 2}}
    assert phases.root_ready(ready) is True
    # Another API's object of the same kind name is not read as the declared one.
    stranger = {**ready, "apiVersion": "example.com/v1", "status": {"readyReplicas": 2}}
    assert phases.root_ready(stranger) is None


@pytest.mark.parametrize("name", [n for n in NAMES if REGISTRY.get(n).cluster_side.operators])
def test_operator_runtimes_declare_real_crds(name: str) -> None:
    side = REGISTRY.get(name).cluster_side
    for operator in side.operators:
        assert _served(_crd(operator.crd)), operator.crd
    for kind in side.renders:
        if kind.group in CORE_GROUPS or kind.kind in NOT_SAVED:
            continue
        crd = _crd(kind.crd)
        assert crd["spec"]["group"] == kind.group
        assert crd["spec"]["names"]["kind"] == kind.kind
        assert crd["spec"]["names"]["plural"] == kind.plural
        assert kind.version in _served(crd), f"{kind.kind} {kind.version} is not served"


def test_add_on_and_monitoring_crds_are_real() -> None:
    for operator in (*registry.ADDONS, objects.PROMETHEUS_OPERATOR):
        assert _served(_crd(operator.crd)), operator.crd


def test_every_runtime_with_a_custom_root_needs_an_operator() -> None:
    for runtime in REGISTRY.all():
        side = runtime.cluster_side
        if any(r.kind.group not in CORE_GROUPS for r in side.roots):
            assert side.operators, f"{runtime.name} has a custom root but needs no operator"
