"""Set up a fresh cluster: install CRDs from files and register nodes (the sandbox's).

CRDs are applied as their file's text (an apply patch may be YAML: parsing and
re-serialising megabytes of schemas in Python takes longer than the server), a few at a time,
then waited for until ``Established``. Nodes are server-side applied with their status
(capacity and allocatable, which only the ``status`` subresource takes on an update); other
cluster-scoped objects (webhook configurations) are server-side applied as they are.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubefoundry.cluster import errors
from kubefoundry.cluster.connecting import Connection
from kubefoundry.core.errors import PermanentError, RetryableError

APPLY_PATCH = "application/apply-patch+yaml"
_CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def install_crds(
    conn: Connection,
    files: Sequence[Path],
    *,
    field_manager: str,
    timeout_s: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Apply the CRD in each file (one per file, named ``<plural>.<group>.yaml``) and wait
    until every one is Established."""
    apply = functools.partial(_apply_text, conn, field_manager=field_manager)
    # A few at a time: the server's work on each CRD (schemas, CEL rules) is what takes long.
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(apply, files))
    waiting = {path.stem for path in files}
    deadline = time.monotonic() + timeout_s
    while waiting and time.monotonic() < deadline:
        waiting -= established_crds(conn)
        if waiting:
            sleep(0.2)
    if waiting:
        raise RetryableError(
            f"CRDs not Established after {timeout_s:.0f}s: {', '.join(sorted(waiting))}.",
            delay_s=1.0,
        )


def established_crds(conn: Connection) -> set[str]:
    """Names of the CRDs whose Established condition is True (read raw: typed models of
    large schemas take seconds to build)."""
    try:
        response: Any = client.ApiextensionsV1Api(conn.api).list_custom_resource_definition(
            _preload_content=False
        )
    except ApiException as exc:
        raise errors.translate(exc, verb="list", kind="CustomResourceDefinition") from None
    return {
        item["metadata"]["name"]
        for item in json.loads(response.data)["items"]
        for condition in (item.get("status") or {}).get("conditions") or []
        if condition["type"] == "Established" and condition["status"] == "True"
    }


def _apply_text(conn: Connection, source: Path, *, field_manager: str) -> None:
    api = conn.api
    request = api.param_serialize(
        "PATCH",
        f"{_CRDS}/{source.stem}",
        query_params=[("fieldManager", field_manager), ("force", "true")],
        header_params={"Content-Type": APPLY_PATCH, "Accept": "application/json"},
        body=source.read_text(),
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*request)
    body = response.read()
    if not 200 <= response.status <= 299:
        raise PermanentError(
            f"The API server refused the CRD in {source} ({response.status}): {body[:500]!r}.",
            hint="Check that the file holds one CustomResourceDefinition named as the file.",
        )


def apply_nodes(
    conn: Connection, nodes: Sequence[Mapping[str, Any]], *, field_manager: str
) -> None:
    """Server-side apply each Node, then its status (capacity, allocatable)."""
    core = client.CoreV1Api(conn.api)
    for node in nodes:
        name = node["metadata"]["name"]
        body = {k: v for k, v in node.items() if k != "status"}
        status = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
        status["status"] = node.get("status") or {}
        try:
            core.patch_node(
                name, body, field_manager=field_manager, force=True, _content_type=APPLY_PATCH
            )
            core.patch_node_status(
                name, status, field_manager=field_manager, force=True, _content_type=APPLY_PATCH
            )
        except ApiException as exc:
            raise errors.translate(exc, verb="apply", kind="Node", name=name) from None


def apply_objects(
    conn: Connection, objects: Sequence[Mapping[str, Any]], *, field_manager: str
) -> None:
    """Server-side apply objects (webhook configurations and the like; a namespaced one in
    the namespace its metadata names)."""
    dyn = conn.dynamic()
    for obj in objects:
        kind, name = str(obj["kind"]), str(obj["metadata"]["name"])
        try:
            resource = dyn.resources.get(api_version=obj["apiVersion"], kind=kind)
            dyn.server_side_apply(
                resource, body=dict(obj), field_manager=field_manager, force_conflicts=True
            )
        except ApiException as exc:
            raise errors.translate(exc, verb="apply", kind=kind, name=name) from None


def ready_pods_of(conn: Connection, *, name: str, namespace: str) -> int:
    """The ready pods of the Deployment ``namespace/name`` (0 while it has none yet)."""
    try:
        found = client.AppsV1Api(conn.api).read_namespaced_deployment(name, namespace)
    except ApiException as exc:
        raise errors.translate(exc, verb="get", kind="Deployment", name=name) from None
    return int((found.status.ready_replicas if found.status else 0) or 0)


def ready_nodes(conn: Connection, names: Sequence[str]) -> set[str]:
    """Which of ``names`` report the Ready condition True."""
    try:
        found = client.CoreV1Api(conn.api).list_node()
    except ApiException as exc:
        raise errors.translate(exc, verb="list", kind="Node") from None
    nodes: list[dict[str, Any]] = conn.api.sanitize_for_serialization(found.items)
    return {
        str(node["metadata"]["name"])
        for node in nodes
        if node["metadata"]["name"] in names
        for condition in (node.get("status") or {}).get("conditions") or []
        if condition.get("type") == "Ready" and condition.get("status") == "True"
    }
