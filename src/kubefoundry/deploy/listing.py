"""The deployments a cluster holds, as rows every surface shows the same way (``kubefoundry
ls``, the REST API's ``/deployments``): read from their root objects' identity and plan
summary (``core/identity``)."""

from __future__ import annotations

from typing import Any

from kubefoundry.cluster import inspecting
from kubefoundry.cluster.connecting import Connection
from kubefoundry.core import identity
from kubefoundry.deploy import deploying


def row(root: dict[str, Any]) -> dict[str, Any]:
    """One deployment: where, which runtime, model, root kind, GPUs, replicas, $/h."""
    plan = identity.summary_of(root) or identity.PlanSummary()
    return {
        "namespace": root["metadata"].get("namespace"),
        "name": identity.deployment_of(root),
        "runtime": identity.runtime_of(root),
        "model": plan.model,
        "kind": root["kind"],
        "gpu": plan.gpu,
        "replicas": plan.replicas,
        "usd_per_hour": plan.usd_per_hour,
    }


def deployments(
    conn: Connection, *, namespace: str | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows in ``namespace`` (None: every namespace), and the root kinds RBAC hid."""
    hidden: list[str] = []
    found = inspecting.roots(conn, deploying.ROOT_KINDS, namespace=namespace, unreadable=hidden)
    return [row(r) for r in found], hidden
