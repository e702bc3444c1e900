"""Before anything is applied: every Gateway a rendered route attaches to exists.

A route to a Gateway that does not exist is accepted by the API server and serves nothing:
llm-d's HTTPRoute stays unattached and its InferencePool unreached; KServe's
LLMInferenceService controller marks the service ``Ready=False (RefsInvalid)`` and makes no
endpoint picker. Seen with KServe v0.20's controller in the sandbox, on the default the
presets use (its ``inferenceservice-config`` names ``kserve/kserve-ingress-gateway``).
So a deploy names the missing Gateway and how to fix it, and applies nothing.

The same for a Gateway in another namespace that takes no route from the deployment's: a
listener's ``allowedRoutes.namespaces.from`` defaults to ``Same``, and the Gateway API leaves
such a route unattached, saying so only in the route's status. (``Selector`` is not judged
here: the namespace's labels decide it.)

Where the Gateways cannot be read (RBAC), nothing is said: the cluster may well have them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kubefoundry.cluster import configmaps, inspecting
from kubefoundry.cluster.connecting import Connection
from kubefoundry.cluster.errors import ForbiddenError
from kubefoundry.core.errors import InvalidInputError, KubeFoundryError

GROUP = inspecting.GATEWAYS[0]
# KServe's release default for a managed route's Gateway (ingress.kserveIngressGateway of
# its inferenceservice-config), used where that ConfigMap cannot be read.
KSERVE_NAMESPACE, KSERVE_CONFIG = "kserve", "inferenceservice-config"
KSERVE_DEFAULT_GATEWAY = ("kserve", "kserve-ingress-gateway")


@dataclasses.dataclass(frozen=True)
class Reference:
    by: str  # "HTTPRoute chat", "LLMInferenceService chat"
    namespace: str
    name: str
    kserve_default: bool = False  # the Gateway KServe's presets attach to when none is named
    route_namespace: str = ""  # where the route lives (the object's namespace)

    @property
    def gateway(self) -> str:
        return f"{self.namespace}/{self.name}"


def references(
    manifests: Iterable[Mapping[str, Any]],
    namespace: str,
    *,
    kserve_default: Callable[[], tuple[str, str]] = lambda: KSERVE_DEFAULT_GATEWAY,
) -> list[Reference]:
    """The Gateways the rendered objects attach to: an HTTPRoute's Gateway parents, and an
    LLMInferenceService's managed route (its ``router.gateway.refs``, else KServe's default,
    asked of ``kserve_default`` only then: reading it costs a request)."""
    out: list[Reference] = []
    for obj in manifests:
        meta = obj.get("metadata") or {}
        own = meta.get("namespace") or namespace
        by = f"{obj.get('kind')} {meta.get('name')}"
        spec = obj.get("spec") or {}
        if obj.get("kind") == "HTTPRoute":
            for parent in spec.get("parentRefs") or ():
                if parent.get("group", GROUP) == GROUP and parent.get("kind", "Gateway") == (
                    "Gateway"
                ):
                    ns = parent.get("namespace") or own
                    out.append(Reference(by, ns, parent["name"], route_namespace=own))
        elif obj.get("kind") == "LLMInferenceService":
            router = spec.get("router") or {}
            if "route" not in router:
                continue  # no managed route: no Gateway needed
            refs = (router.get("gateway") or {}).get("refs") or ()
            out.extend(
                Reference(by, r.get("namespace") or own, r["name"], route_namespace=own)
                for r in refs
            )
            if not refs:
                default = kserve_default()
                out.append(Reference(by, *default, kserve_default=True, route_namespace=own))
    return out


def missing(
    conn: Connection, manifests: Iterable[Mapping[str, Any]], namespace: str
) -> InvalidInputError | None:
    """The error for rendered objects that attach to a Gateway the cluster lacks, or None."""
    found = references(manifests, namespace, kserve_default=lambda: _kserve_default(conn))
    if not found:
        return None
    found_gateways: dict[str, dict[str, dict[str, Any]] | None] = {}  # None: API not served
    for ns in sorted({r.namespace for r in found}):
        try:
            found_gateways[ns] = inspecting.gateways(conn, ns)
        except ForbiddenError:
            return None  # may not look: the cluster may have them
    absent = [r for r in found if r.name not in (found_gateways.get(r.namespace) or {})]
    if absent:
        served = all(found_gateways.get(r.namespace) is not None for r in absent)
        return _absent(absent, served=served)
    for ref in found:
        gateway = (found_gateways.get(ref.namespace) or {})[ref.name]
        if ref.namespace != ref.route_namespace and not takes_other_namespaces(gateway):
            return InvalidInputError(
                f"{ref.by} attaches to Gateway {ref.gateway}, whose listeners take routes only "
                f"from namespace {ref.namespace} (`allowedRoutes.namespaces.from` is Same or "
                f"unset): the route would stay unattached. Nothing was applied.",
                hint=f"Deploy into namespace {ref.namespace}, pick a Gateway there, or have its "
                "owner allow routes from other namespaces (`from: All`, or `Selector`).",
            )
    return None


def takes_other_namespaces(gateway: Mapping[str, Any]) -> bool:
    """Whether any listener may take a route from another namespace (All, or a Selector we
    do not judge)."""
    return any(
        ((listener.get("allowedRoutes") or {}).get("namespaces") or {}).get("from", "Same")
        != "Same"
        for listener in (gateway.get("spec") or {}).get("listeners") or ()
    )


def _absent(absent: list[Reference], *, served: bool) -> InvalidInputError:
    if not served:
        return InvalidInputError(
            f"{absent[0].by} attaches to Gateway {absent[0].gateway}, and this cluster does "
            "not serve the Gateway API (gateway.networking.k8s.io/v1 Gateways). "
            "Nothing was applied.",
            hint="Install the Gateway API CRDs and a Gateway implementation, or deploy "
            "without a route (`serving.exposure` none, with a runtime that needs none).",
        )
    first = absent[0]
    said = "; ".join(f"{r.by} attaches to Gateway {r.gateway}" for r in absent)
    if first.kserve_default:
        why = (
            f"{said} (KServe's default for a managed route, from its {KSERVE_CONFIG}), which "
            "does not exist: KServe would mark it RefsInvalid and make no endpoint picker."
        )
        hint = (
            f"Create the Gateway {first.gateway} as KServe's install does, or name an existing "
            "one: `serving.exposure` httproute with `serving.gateway` NAMESPACE/NAME."
        )
    else:
        why = f"{said}, which does not exist: the route would be stored and serve nothing."
        hint = (
            f"Create the Gateway {first.gateway} (of a GatewayClass your cluster has: "
            "`kubefoundry cluster` lists them), or name an existing one in `serving.gateway`: "
            "NAME, or NAMESPACE/NAME for one in another namespace."
        )
    return InvalidInputError(f"{why} Nothing was applied.", hint=hint)


def _kserve_default(conn: Connection) -> tuple[str, str]:
    """The Gateway KServe's managed routes attach to in this cluster (its ConfigMap's
    ``ingress.kserveIngressGateway``), else its release default."""
    try:
        data = configmaps.read(conn, name=KSERVE_CONFIG, namespace=KSERVE_NAMESPACE) or {}
        ingress = json.loads(data.get("ingress", "{}"))
        namespace, _, name = str(ingress.get("kserveIngressGateway", "")).partition("/")
    except (KubeFoundryError, ValueError, AttributeError):
        return KSERVE_DEFAULT_GATEWAY
    return (namespace, name) if namespace and name else KSERVE_DEFAULT_GATEWAY
