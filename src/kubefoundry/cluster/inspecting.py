"""Read a deployment back from the cluster: its root, pods, events, logs; list and delete.

The cluster is the source of truth: a deployment is the object that carries the root
annotation and the deployment label (``core/identity.py``); everything else that
belongs to it carries the same label (pods through their templates, where an operator keeps
labels). Deleting removes the root (its owned children go with it, by garbage collection) and
every other labelled object; the model cache carries no deployment label and stays unless
asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from kubefoundry.cluster import errors
from kubefoundry.cluster.connecting import Connection
from kubefoundry.core import identity

Kind = tuple[str, str]  # (apiVersion, kind)


def roots(
    conn: Connection,
    kinds: Iterable[Kind],
    *,
    namespace: str | None,
    unreadable: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Every deployment root of the given kinds, in one namespace or all (``None``).

    Kinds the user may not list are skipped and named in ``unreadable`` (when given), so the
    caller can say what the list leaves out: a user with the ``view`` role may list
    Deployments but not LeaderWorkerSets or InferenceServices, and still sees the first.
    Without ``unreadable``, a kind refused in one namespace is an error.
    """
    dyn, out = conn.dynamic(), []
    for api_version, kind in kinds:
        resource = _served(dyn, api_version, kind)
        if resource is None:
            continue
        try:
            found = dyn.get(
                resource, namespace=namespace, label_selector=identity.managed_selector()
            )
        except ApiException as exc:
            if exc.status == 403 and (namespace is None or unreadable is not None):
                if unreadable is not None:
                    unreadable.append(kind)
                continue
            raise errors.translate(exc, verb="list", kind=kind, namespace=namespace) from None
        for item in found.to_dict().get("items", []):
            if identity.is_root(item):
                out.append(item | {"apiVersion": api_version, "kind": kind})
    return sorted(out, key=lambda r: (r["metadata"].get("namespace", ""), r["metadata"]["name"]))


def namespace_exists(conn: Connection, name: str) -> bool | None:
    """Whether namespace ``name`` exists; None when RBAC does not let us ask (a list in a
    namespace that does not exist answers an empty list, not an error: ask the namespace)."""
    try:
        client.CoreV1Api(conn.api).read_namespace(name)
    except ApiException as exc:
        if exc.status == 404:
            return False
        if exc.status == 403:
            return None
        raise errors.translate(exc, verb="get", kind="Namespace", name=name) from None
    return True


GATEWAYS = ("gateway.networking.k8s.io", "v1", "gateways")


def gateways(conn: Connection, namespace: str) -> dict[str, dict[str, Any]] | None:
    """The Gateways in ``namespace``, by name; None when the Gateway API is not served. A
    refusal (RBAC) raises ``ForbiddenError``."""
    group, version, plural = GATEWAYS
    try:
        found = client.CustomObjectsApi(conn.api).list_namespaced_custom_object(
            group, version, namespace, plural
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise errors.translate(exc, verb="list", kind="Gateway", namespace=namespace) from None
    items: list[dict[str, Any]] = found.get("items", []) if isinstance(found, dict) else []
    return {item["metadata"]["name"]: item for item in items}


SCALED_OBJECTS = ("keda.sh", "v1alpha1", "scaledobjects")


def scaler_prometheus(conn: Connection, *, name: str, namespace: str) -> str | None:
    """The Prometheus our ScaledObjects of deployment ``name`` query (their prometheus
    trigger's ``serverAddress``); None without one, or where KEDA is not served or RBAC hides
    them (a help for history, never a reason to fail)."""
    group, version, plural = SCALED_OBJECTS
    try:
        found = client.CustomObjectsApi(conn.api).list_namespaced_custom_object(
            group,
            version,
            namespace,
            plural,
            label_selector=f"{identity.DEPLOYMENT}={name},{identity.MANAGED_BY}={identity.OURS}",
        )
    except ApiException:
        return None
    for item in found.get("items", []) if isinstance(found, dict) else []:
        for trigger in item.get("spec", {}).get("triggers", []):
            address = trigger.get("metadata", {}).get("serverAddress")
            if trigger.get("type") == "prometheus" and address:
                return str(address)
    return None


def namespaces(conn: Connection) -> list[str]:
    """The namespaces this connection may list; empty when it may not."""
    try:
        found = client.CoreV1Api(conn.api).list_namespace()
    except ApiException:
        return []  # a help for a message, never a reason to fail
    items = conn.api.sanitize_for_serialization(found.items)
    return sorted(str(n["metadata"]["name"]) for n in items)


def root(
    conn: Connection, kinds: Iterable[Kind], *, name: str, namespace: str
) -> dict[str, Any] | None:
    for item in roots(conn, kinds, namespace=namespace):
        if identity.deployment_of(item) == name:
            return item
    return None


def pods(conn: Connection, *, name: str, namespace: str) -> list[dict[str, Any]]:
    """The pods of deployment ``name``: those with our labels and those its operator made
    with only its own (``identity.pod_selectors``), each once."""
    return _pods(conn, identity.pod_selectors(name), namespace=namespace)


def deployment_pods(
    conn: Connection, *, namespace: str | None
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every deployment's pods in ``namespace`` (None: all), by (namespace, deployment): one
    list per pod label that marks a deployment (ours and each operator's), not one per
    deployment."""
    labels = (identity.DEPLOYMENT, *identity.OPERATOR_POD_LABELS)
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for pod in _pods(conn, labels, namespace=namespace):
        where = (str(pod["metadata"].get("namespace", "")), identity.deployment_of_pod(pod))
        grouped.setdefault(where, []).append(pod)
    return grouped


def _pods(
    conn: Connection, selectors: Iterable[str], *, namespace: str | None
) -> list[dict[str, Any]]:
    """The pods any of ``selectors`` matches in ``namespace`` (None: all), each once, by
    name."""
    core = client.CoreV1Api(conn.api)
    out: dict[str, dict[str, Any]] = {}
    for selector in selectors:
        try:
            if namespace is None:
                found = core.list_pod_for_all_namespaces(label_selector=selector)
            else:
                found = core.list_namespaced_pod(namespace, label_selector=selector)
        except ApiException as exc:
            raise errors.translate(exc, verb="list", kind="Pod", namespace=namespace) from None
        for pod in conn.api.sanitize_for_serialization(found.items):
            out.setdefault(str(pod["metadata"].get("uid") or pod["metadata"]["name"]), pod)
    return sorted(out.values(), key=lambda p: str(p["metadata"]["name"]))


def events(
    conn: Connection, *, namespace: str, names: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    core = client.CoreV1Api(conn.api)
    try:
        found = core.list_namespaced_event(namespace)
    except ApiException:
        return {}  # events are a help, never a reason to fail
    out: dict[str, list[dict[str, Any]]] = {}
    for event in conn.api.sanitize_for_serialization(found.items):
        involved = str((event.get("involvedObject") or {}).get("name", ""))
        if involved in names:
            out.setdefault(involved, []).append(event)
    for items in out.values():
        items.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    return out


def log_tail(conn: Connection, *, pod: str, namespace: str, lines: int = 20) -> list[str]:
    core = client.CoreV1Api(conn.api)
    try:
        text = core.read_namespaced_pod_log(pod, namespace, tail_lines=lines)
    except ApiException:
        return []  # not started yet
    return str(text).splitlines()


def delete(conn: Connection, kinds: Iterable[Kind], *, name: str, namespace: str) -> list[str]:
    """Delete every object labelled with this deployment; return what was deleted."""
    dyn, deleted = conn.dynamic(), []
    for api_version, kind in kinds:
        resource = _served(dyn, api_version, kind)
        if resource is None:
            continue
        where = namespace if resource.namespaced else None
        try:
            found = dyn.get(
                resource, namespace=where, label_selector=identity.deployment_selector(name)
            )
            for item in found.to_dict().get("items", []):
                item_name = item["metadata"]["name"]
                dyn.delete(
                    resource, name=item_name, namespace=where, propagation_policy="Background"
                )
                deleted.append(f"{kind}/{item_name}")
        except ApiException as exc:
            if exc.status == 404:
                continue
            raise errors.translate(
                exc, verb="delete", kind=kind, name=name, namespace=where
            ) from None
    return deleted


def labelled(
    conn: Connection, kinds: Iterable[Kind], *, name: str, namespace: str
) -> list[dict[str, Any]]:
    """Every object of the given kinds labelled as deployment ``name``'s (what an update
    compares with what it renders, to find the objects it no longer renders)."""
    dyn, out = conn.dynamic(), []
    for api_version, kind in kinds:
        resource = _served(dyn, api_version, kind)
        if resource is None:
            continue
        where = namespace if resource.namespaced else None
        try:
            found = dyn.get(
                resource, namespace=where, label_selector=identity.deployment_selector(name)
            )
        except ApiException as exc:
            raise errors.translate(exc, verb="list", kind=kind, namespace=where) from None
        for item in found.to_dict().get("items", []):
            out.append(item | {"apiVersion": api_version, "kind": kind})
    return out


def delete_objects(conn: Connection, objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """Delete each object (``apiVersion``, ``kind``, name and namespace); gone already is fine."""
    dyn, deleted = conn.dynamic(), []
    for obj in objects:
        meta = obj.get("metadata") or {}
        resource = _served(dyn, str(obj["apiVersion"]), str(obj["kind"]))
        if resource is None:
            continue
        try:
            dyn.delete(
                resource,
                name=meta["name"],
                namespace=meta.get("namespace"),
                propagation_policy="Background",
            )
        except ApiException as exc:
            if exc.status != 404:
                raise errors.translate(
                    exc,
                    verb="delete",
                    kind=str(obj["kind"]),
                    name=meta["name"],
                    namespace=meta.get("namespace"),
                ) from None
        deleted.append(f"{obj['kind']}/{meta['name']}")
    return deleted


def _served(dyn: DynamicClient, api_version: str, kind: str) -> Any | None:
    try:
        return dyn.resources.get(api_version=api_version, kind=kind)
    except ResourceNotFoundError:
        return None


def delete_cache(conn: Connection, *, model: str, namespace: str) -> list[str]:
    """Delete the model-cache PVC(s) of ``model`` (the value of its model label)."""
    core = client.CoreV1Api(conn.api)
    selector = identity.model_cache_selector(model)
    try:
        found = core.list_namespaced_persistent_volume_claim(namespace, label_selector=selector)
        names = [
            str(n["metadata"]["name"]) for n in conn.api.sanitize_for_serialization(found.items)
        ]
        for name in names:
            core.delete_namespaced_persistent_volume_claim(name, namespace)
    except ApiException as exc:
        raise errors.translate(
            exc, verb="delete", kind="PersistentVolumeClaim", namespace=namespace
        ) from None
    return [f"PersistentVolumeClaim/{n}" for n in names]
