"""Before anything is applied: every Gateway a rendered route attaches to exists.

A route to a Gateway that does not exist is accepted by the API server and serves nothing:
llm-d's HTTPRoute stays unattached and its InferencePool unreached; KServe's
LLMInferenceService controller marks the service ``Ready=False (RefsInvalid)`` and makes no
endpoint picker. Seen with KServe v0.20's controller in the sandbox, on the default the
presets use (its ``inferenceservice-config`` names ``kserve/kserve-ingress-gateway``).
So a deploy names the missing Gateway and how to fix it, and applies nothing.

Where the Gateways cannot be read (RBAC), nothing is said: the cluster may well have them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
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

    @property
    def gateway(self) -> str:
        return f"{self.namespace}/{self.name}"


def references(
    manifests: Iterable[Mapping[str, Any]],
    namespace: str,
    *,
    kserve_default: tuple[str, str] = KSERVE_DEFAULT_GATEWAY,
) -> list[Reference]:
    """The Gateways the rendered objects attach to: an HTTPRoute's Gateway parents, and an
    LLMInferenceService's managed route (its ``router.gateway.refs``, else KServe's
    default)."""
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
                    out.append(Reference(by, parent.get("namespace") or own, parent["name"]))
        elif obj.get("kind") == "LLMInferenceService":
            router = spec.get("router") or {}
            if "route" not in router:
                continue  # no managed route: no Gateway needed
            refs = (router.get("gateway") or {}).get("refs") or ()
            out.extend(Reference(by, r.get("namespace") or own, r["name"]) for r in refs)
            if not refs:
                out.append(Reference(by, *kserve_default, kserve_default=True))
    return out


def missing(
    conn: Connection, manifests: Iterable[Mapping[str, Any]], namespace: str
) -> InvalidInputError | None:
    """The error for rendered objects that attach to a Gateway the cluster lacks, or None."""
    found = references(manifests, namespace, kserve_default=_kserve_default(conn))
    if not found:
        return None
    names: dict[str, set[str] | None] = {}  # per namespace; None: the API is not served
    for ns in sorted({r.namespace for r in found}):
        try:
            names[ns] = inspecting.gateway_names(conn, ns)
        except ForbiddenError:
            return None  # may not look: the cluster may have them
    absent = [r for r in found if r.name not in (names.get(r.namespace) or set())]
    if not absent:
        return None
    if any(names.get(r.namespace) is None for r in absent):
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
