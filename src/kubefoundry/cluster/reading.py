"""Read what discovery needs from a cluster, as plain dicts, saying what it may not read.

A user who may not list nodes (or pods in every namespace) still gets the facts that can be
read; ``Snapshot.refused`` lists the rest so the CLI can say what is missing and why. A
cluster that cannot be reached at all (or refuses who we are) is an error, not a list of
refusals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubefoundry.cluster import errors
from kubefoundry.cluster.connecting import Connection
from kubefoundry.core.errors import KubeFoundryError, PermanentError


@dataclasses.dataclass(frozen=True)
class Snapshot:
    version: str | None
    nodes: list[dict[str, Any]]
    pods: list[dict[str, Any]]
    crds: list[dict[str, Any]]
    storage_classes: list[str]
    gateway_classes: list[str]
    autoscalers: list[str]
    refused: list[str]  # "nodes: Not allowed to list …" for each thing it could not read


def read(conn: Connection) -> Snapshot:
    api = conn.api
    core, refused = client.CoreV1Api(api), []

    def attempt(what: str, call: Callable[[], Any], default: Any) -> Any:
        try:
            return call()
        except ApiException as exc:
            error = errors.translate(exc, verb="list", kind=what)
            if not isinstance(error, PermanentError):
                raise error from None
            refused.append(f"{what}: {error.message}")
            return default
        except errors.CONNECTION_ERRORS:
            raise  # the cluster is out of reach: nothing else would be readable either
        except KubeFoundryError as exc:
            refused.append(f"{what}: {exc.message}")
            return default

    sanitize = api.sanitize_for_serialization
    version = attempt("version", lambda: client.VersionApi(api).get_code().git_version, None)
    nodes = attempt("nodes", lambda: sanitize(core.list_node().items), [])
    pods = attempt(
        "pods",
        lambda: sanitize(
            core.list_pod_for_all_namespaces(field_selector="status.phase!=Succeeded").items
        ),
        [],
    )
    crds = attempt(
        "customresourcedefinitions",
        lambda: sanitize(client.ApiextensionsV1Api(api).list_custom_resource_definition().items),
        [],
    )
    classes = attempt(
        "storageclasses",
        lambda: _names(sanitize(client.StorageV1Api(api).list_storage_class().items)),
        [],
    )
    gateways = attempt("gatewayclasses", lambda: _gateway_classes(api), [])
    autoscalers = attempt(
        "deployments",
        lambda: [
            name
            for name in _names(
                sanitize(client.AppsV1Api(api).list_namespaced_deployment("kube-system").items)
            )
            if "autoscaler" in name
        ],
        [],
    )
    return Snapshot(version, nodes, pods, crds, classes, gateways, autoscalers, refused)


def _gateway_classes(api: client.ApiClient) -> list[str]:
    try:
        found = client.CustomObjectsApi(api).list_cluster_custom_object(
            "gateway.networking.k8s.io", "v1", "gatewayclasses"
        )
    except ApiException as exc:
        if exc.status == 404:
            return []  # Gateway API not installed
        raise
    items: list[dict[str, Any]] = found.get("items", []) if isinstance(found, dict) else []
    return _names(items)


def _names(items: list[dict[str, Any]]) -> list[str]:
    return [str(item["metadata"]["name"]) for item in items]
