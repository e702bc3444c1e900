"""The explicit list of runtimes, looked up by name with close-match suggestions on a typo.

It also gathers what the runtimes declare about the cluster (``cluster_side``), so readers
(``deploy/``: find, delete, readiness, discovery) never keep tables of their own: the kinds
that can be a root, every kind rendered, and the operators whose CRDs discovery looks for
(the runtimes' own and the add-ons the shared builders write for: KEDA, External Secrets,
the Gateway API).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kubefoundry.core.errors import NotFoundError
from kubefoundry.core.naming import suggest
from kubefoundry.runtimes import dynamo, kaito, kserve, kuberay, llmd, lws, tgi, vllm
from kubefoundry.runtimes.base import Runtime
from kubefoundry.runtimes.cluster_side import Kind, Operator, Root
from kubefoundry.runtimes.common import objects, scaling, tokens

# Operators the shared builders (common/) write objects for, whichever runtime renders them.
ADDONS = (scaling.KEDA, tokens.EXTERNAL_SECRETS, objects.GATEWAY_API)


class Registry:
    def __init__(self, runtimes: Iterable[Runtime], *, addons: Iterable[Operator] = ()) -> None:
        self._by_name = {r.name: r for r in runtimes}
        self._addons = tuple(addons)

    def get(self, name: str) -> Runtime:
        key = name.strip().lower()
        if key in self._by_name:
            return self._by_name[key]
        raise NotFoundError(
            kind="runtime",
            name=name,
            suggestions=suggest(name, self._by_name),
            hint="Valid runtimes: " + ", ".join(self._by_name) + ".",
        )

    def all(self) -> tuple[Runtime, ...]:
        return tuple(self._by_name.values())

    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def roots(self) -> tuple[Root, ...]:
        """Every kind that can be a deployment's root, once, in preference order."""
        out: dict[Kind, Root] = {}
        for runtime in self.all():
            for root in runtime.cluster_side.roots:
                out.setdefault(root.kind, root)
        return tuple(out.values())

    def root_kinds(self) -> tuple[Kind, ...]:
        return tuple(r.kind for r in self.roots())

    def kinds(self) -> tuple[Kind, ...]:
        """Every kind any runtime renders, roots first (what ``delete`` looks for)."""
        out = dict.fromkeys(self.root_kinds())
        for runtime in self.all():
            out.update(dict.fromkeys(runtime.cluster_side.renders))
        return tuple(out)

    def root_of(self, obj: Mapping[str, Any]) -> Root | None:
        """The declared root ``obj`` is (by apiVersion and kind; kind alone without one)."""
        return next((r for r in self.roots() if r.kind.is_kind_of(obj)), None)

    def operators(self) -> tuple[Operator, ...]:
        """The operators the runtimes need and the add-ons, once each (by CRD)."""
        out: dict[str, Operator] = {}
        for runtime in self.all():
            for operator in runtime.cluster_side.operators:
                out.setdefault(operator.crd, operator)
        for operator in self._addons:
            out.setdefault(operator.crd, operator)
        return tuple(out.values())


def default() -> Registry:
    """Every runtime KubeFoundry renders, in the order it prefers them when nothing is pinned."""
    return Registry(
        [
            vllm.VllmRuntime(),
            lws.LwsRuntime(),
            kserve.KServeRuntime(),
            llmd.LlmdRuntime(),
            kuberay.KubeRayRuntime(),
            dynamo.DynamoRuntime(),
            kaito.KaitoRuntime(),
            tgi.TgiRuntime(),
        ],
        addons=ADDONS,
    )
