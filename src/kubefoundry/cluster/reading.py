"""Read what discovery needs from a cluster, as plain dicts, saying what it may not read.

A user who may not list nodes (or pods in every namespace) still gets the facts that can be
read; ``Snapshot.refused`` lists the rest so the CLI can say what is missing and why. A
cluster that cannot be reached at all (or refuses who we are) is an error, not a list of
refusals.

Only what discovery uses is read, as raw JSON (the client's typed models cost more to build
than the request): which kinds the cluster serves from the aggregated discovery document
(one request, not every CRD's schema), names alone where names are all it needs
(``PartialObjectMetadataList``), and for the operators' controllers the leader-election Leases
(outside ``kube-node-lease``) and the EndpointSlices of the webhook Services asked for. What
is stable for a connection's life (the server's version, the kinds it serves) is kept on the
connection for ``STABLE_S``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from kubernetes.client.exceptions import ApiException

from kubefoundry.cluster import errors
from kubefoundry.cluster.connecting import Connection
from kubefoundry.core.errors import KubeFoundryError, PermanentError

JSON = "application/json"
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
AGGREGATED = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)
STABLE_S = 60.0  # how long a connection keeps the served kinds and version (a server process)
NODE_LEASES = "kube-node-lease"  # one Lease per node (kubelets): not a controller's
SERVICE_NAME = "kubernetes.io/service-name"


@dataclasses.dataclass(frozen=True)
class Snapshot:
    version: str | None
    nodes: list[dict[str, Any]]
    pods: list[dict[str, Any]]
    served: dict[str, list[str]]  # "<plural>.<group>" → versions served, the preferred first
    storage_classes: list[str]
    gateway_classes: list[dict[str, Any]]
    autoscalers: list[str]
    leases: list[dict[str, Any]]
    endpoint_slices: list[dict[str, Any]]
    refused: list[str]  # "nodes: Not allowed to list …" for each thing it could not read

    def hidden(self) -> dict[str, str]:
        """What could not be read, by what it is ("leases": the refusal)."""
        return dict(line.split(": ", 1) for line in self.refused if ": " in line)


def read(conn: Connection, *, webhook_services: Sequence[str] = ()) -> Snapshot:
    api, refused = conn.api, []

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

    version = attempt("version", lambda: _stable(conn, "version", _version), None)
    served = attempt("discovery", lambda: _stable(conn, "served", _served), {})
    nodes = attempt("nodes", lambda: _items(api, "/api/v1/nodes"), [])
    pods = attempt(
        "pods",
        lambda: _items(api, "/api/v1/pods", fieldSelector="status.phase!=Succeeded"),
        [],
    )
    classes = attempt(
        "storageclasses",
        lambda: _names(_items(api, "/apis/storage.k8s.io/v1/storageclasses", METADATA_ONLY)),
        [],
    )
    gateways: list[dict[str, Any]] = []
    if "gatewayclasses.gateway.networking.k8s.io" in served:
        gateways = attempt("gatewayclasses", lambda: _gateway_classes(api), [])
    autoscalers = attempt(
        "deployments",
        lambda: [
            name
            for name in _names(
                _items(api, "/apis/apps/v1/namespaces/kube-system/deployments", METADATA_ONLY)
            )
            if "autoscaler" in name
        ],
        [],
    )
    leases = attempt(
        "leases",
        lambda: _items(
            api,
            "/apis/coordination.k8s.io/v1/leases",
            fieldSelector=f"metadata.namespace!={NODE_LEASES}",
        ),
        [],
    )
    slices = (
        attempt(
            "endpointslices",
            lambda: _items(
                api,
                "/apis/discovery.k8s.io/v1/endpointslices",
                labelSelector=f"{SERVICE_NAME} in ({','.join(sorted(set(webhook_services)))})",
            ),
            [],
        )
        if webhook_services
        else []
    )
    return Snapshot(
        version,
        nodes,
        pods,
        served,
        classes,
        gateways,
        autoscalers,
        leases,
        slices,
        refused,
    )


def _get(api: Any, path: str, accept: str = JSON, **query: str) -> Any:
    """GET ``path`` as parsed JSON; a refusal raises the client's ``ApiException``."""
    method, url, headers, _, _ = api.param_serialize(
        "GET",
        path,
        query_params=list(query.items()),
        header_params={"Accept": accept},
        auth_settings=["BearerToken"],
    )
    answer = api.call_api(method, url, headers)
    body = answer.read()
    if not 200 <= answer.status <= 299:
        api.response_deserialize(answer, {})  # raises the ApiException
    return json.loads(body)


def _items(api: Any, path: str, accept: str = JSON, **query: str) -> list[dict[str, Any]]:
    found = _get(api, path, accept, **query)
    return list(found.get("items") or []) if isinstance(found, dict) else []


def _stable(conn: Connection, key: str, read: Callable[[Any], Any]) -> Any:
    """``read(api)``, kept on the connection for ``STABLE_S``."""
    kept = conn.kept
    now = time.monotonic()
    if key in kept and now - kept[key][0] < STABLE_S:
        return kept[key][1]
    value = read(conn.api)
    kept[key] = (now, value)
    return value


def _version(api: Any) -> str | None:
    found = _get(api, "/version")
    return str(found["gitVersion"]) if isinstance(found, dict) and "gitVersion" in found else None


def _served(api: Any) -> dict[str, list[str]]:
    """Every served resource of every API group as ``<plural>.<group>`` → its versions, the
    group's preferred first: one aggregated discovery request (Kubernetes 1.30+), else the
    group list and one request per group version (older servers)."""
    found = _get(api, "/apis", AGGREGATED)
    out: dict[str, list[str]] = {}
    if isinstance(found, dict) and found.get("kind") == "APIGroupDiscoveryList":
        for group in found.get("items") or []:
            name = group["metadata"]["name"]
            for version in group.get("versions") or []:
                for resource in version.get("resources") or []:
                    plural = f"{resource['resource']}.{name}"
                    out.setdefault(plural, []).append(version["version"])
        return out
    for group in (found or {}).get("groups") or []:
        for version in group.get("versions") or []:
            listed = _get(api, f"/apis/{version['groupVersion']}")
            for resource in listed.get("resources") or []:
                if "/" not in resource["name"]:  # not a subresource
                    out.setdefault(f"{resource['name']}.{group['name']}", []).append(
                        version["version"]
                    )
    return out


def _gateway_classes(api: Any) -> list[dict[str, Any]]:
    try:
        return _items(api, "/apis/gateway.networking.k8s.io/v1/gatewayclasses")
    except ApiException as exc:
        if exc.status == 404:
            return []  # removed since the served kinds were read (kept ``STABLE_S``)
        raise


def _names(items: list[dict[str, Any]]) -> list[str]:
    return [str(item["metadata"]["name"]) for item in items]
