"""A deployment's Kubernetes events, as the rows every surface shows (the deployment page,
``/api/v1/deployments/{ns}/{name}/events``): what the scheduler, kubelet and operators said
about its root object and pods, oldest first."""

from __future__ import annotations

from typing import Any

from kubefoundry.cluster import inspecting
from kubefoundry.cluster.connecting import Connection
from kubefoundry.deploy import deploying


def of_deployment(conn: Connection, *, name: str, namespace: str) -> list[dict[str, Any]]:
    """The events of deployment ``name``'s root object and pods (NotFoundError if none)."""
    root = deploying.find(conn, name=name, namespace=namespace)
    names = [root["metadata"]["name"]]
    names += [p["metadata"]["name"] for p in inspecting.pods(conn, name=name, namespace=namespace)]
    found = inspecting.events(conn, namespace=namespace, names=names)
    rows = [row(e) for items in found.values() for e in items]
    return sorted(rows, key=lambda r: r["time"] or "")


def row(event: dict[str, Any]) -> dict[str, Any]:
    """One event (as the API server returns it): type, reason, message, the object
    (``Kind/name``), how many times, when last."""
    involved = event.get("involvedObject") or {}
    when = event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
    return {
        "type": event.get("type") or "Normal",
        "reason": event.get("reason") or "",
        "message": (event.get("message") or "").strip(),
        "object": f"{involved.get('kind', '')}/{involved.get('name', '')}",
        "count": event.get("count") or 1,
        "time": str(when) if when else None,
    }
