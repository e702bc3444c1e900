"""What a runtime is on the cluster, declared by the runtime itself.

Each runtime module holds one ``ClusterSide``: the kinds that can be its root object (each
with how its operator reports readiness), every kind it renders (what ``delete`` looks for by
label), and the operators it needs: the CRD that means one is installed and what its running
controller leaves in the cluster (a leader-election Lease, its pods, its webhook's Service, a
GatewayClass it accepted), keyed as ``ClusterFacts.installed_runtimes``. ``deploy/`` and
discovery read these through the registry, so adding a runtime touches its own module and the
registry only.

Pure: readiness is a function of the root object as a plain dict.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol


@dataclasses.dataclass(frozen=True)
class Kind:
    """One kind of object: where the API serves it and under which plural."""

    group: str  # "" for the core API
    version: str
    kind: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def ref(self) -> tuple[str, str]:
        """(apiVersion, kind), as manifests and ``cluster/inspecting`` name a kind."""
        return (self.api_version, self.kind)

    def is_kind_of(self, obj: Mapping[str, Any]) -> bool:
        """Whether ``obj`` is of this kind (by kind alone when it names no apiVersion)."""
        api_version = obj.get("apiVersion")
        return obj.get("kind") == self.kind and api_version in (None, self.api_version)

    @property
    def crd(self) -> str:
        """The name its CustomResourceDefinition has (``<plural>.<group>``)."""
        return f"{self.plural}.{self.group}"


@dataclasses.dataclass(frozen=True)
class Reading:
    """What a root object says about itself: serving (True), not yet (False) or silent
    (None, the pods decide); and a failure its operator reports, if any."""

    ready: bool | None
    failure: str | None = None


class Readiness(Protocol):
    def __call__(self, root: Mapping[str, Any]) -> Reading: ...


@dataclasses.dataclass(frozen=True)
class Root:
    """A kind that can be a deployment's root object, and how to read its readiness."""

    kind: Kind
    read: Readiness


ANY_GATEWAY = "*"  # in ``Controller.gateway_controllers``: any controller accepting a class


@dataclasses.dataclass(frozen=True)
class Controller:
    """What an operator's running controller leaves in the cluster; any one of them seen is
    enough. Names come from each project's own sources (its ``main.go`` leader-election ID,
    its Helm chart's pod labels and webhook Service), so a default installation is found in
    whatever namespace it runs.

    - ``leases``: its leader-election Lease names, held and renewed while it leads.
    - ``pods``: label selectors (``k=v,k2=v2``, all must match) of its controller's pods,
      seen running and ready.
    - ``webhook_services``: Services in front of its admission webhooks, with a ready
      endpoint.
    - ``gateway_controllers``: ``spec.controllerName`` of GatewayClasses whose controller
      implements it, seen accepted (``ANY_GATEWAY``: any).
    """

    name: str  # "the KubeRay operator": what a person is told is (not) running
    install: str  # what to install or start when only its CRDs are there
    leases: tuple[str, ...] = ()
    pods: tuple[str, ...] = ()
    webhook_services: tuple[str, ...] = ()
    gateway_controllers: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Operator:
    """Something the cluster must have installed: the key runtimes name in ``requires``
    (``ClusterFacts.installed_runtimes``), the CRD whose presence means it is installed and
    the controller that must run for its objects to do anything. ``controller`` None: the
    CRD alone is all it takes (``alone`` says why: e.g. its objects are read by pods the
    runtime renders itself)."""

    key: str
    crd: str  # <plural>.<group>
    controller: Controller | None = None
    alone: str = ""


@dataclasses.dataclass(frozen=True)
class NodeLabels:
    """Labels the nodes a runtime serves on must carry where it uses existing nodes (not on
    ``unless_cloud``, where it provisions its own): ``why`` it reads them, ``fix`` to get
    them."""

    keys: tuple[str, ...]
    why: str
    fix: str
    unless_cloud: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ClusterSide:
    roots: tuple[Root, ...]
    renders: tuple[Kind, ...]  # every kind the runtime writes, roots included
    operators: tuple[Operator, ...] = ()
    node_labels: NodeLabels | None = None

    @property
    def requires(self) -> tuple[str, ...]:
        """The operators' keys, for ``Runtime.requires``."""
        return tuple(o.key for o in self.operators)
