"""The Hugging Face token Secret: created or updated where deployments read it.

The token goes to the API server in the request body only; it is never logged, returned or
part of an error message (errors are built from the Status, which never echoes the body).
"""

from __future__ import annotations

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubefoundry.cluster import errors
from kubefoundry.cluster.connecting import Connection
from kubefoundry.core import identity

FIELD_MANAGER = "kubefoundry"


def ensure_token(
    conn: Connection, *, name: str, namespace: str, token: str, key: str = "token"
) -> str:
    """Create or update Secret ``name`` holding ``token`` under ``key``; "created"/"updated"."""
    core = client.CoreV1Api(conn.api)
    # Runtimes read different keys (KAITO and KServe's storage initializer: HF_TOKEN).
    body = client.V1Secret(
        metadata=client.V1ObjectMeta(
            name=name, namespace=namespace, labels=identity.managed_labels()
        ),
        type="Opaque",
        string_data={key: token, "HF_TOKEN": token},
    )
    try:
        core.read_namespaced_secret(name, namespace)
        exists = True
    except ApiException as exc:
        if exc.status != 404:
            raise errors.translate(
                exc, verb="get", kind="Secret", name=name, namespace=namespace
            ) from None
        exists = False
    try:
        if exists:
            core.patch_namespaced_secret(name, namespace, body)
        else:
            core.create_namespaced_secret(namespace, body)
    except ApiException as exc:
        verb = "patch" if exists else "create"
        raise errors.translate(
            exc, verb=verb, kind="Secret", name=name, namespace=namespace
        ) from None
    return "updated" if exists else "created"


def exists(conn: Connection, *, name: str, namespace: str) -> bool:
    try:
        client.CoreV1Api(conn.api).read_namespaced_secret(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise errors.translate(
            exc, verb="get", kind="Secret", name=name, namespace=namespace
        ) from None
    return True


def namespaces_with(conn: Connection, *, name: str) -> list[str] | None:
    """The namespaces holding a KubeFoundry Secret called ``name`` (read by name and label,
    never by value); ``None`` when the user may not list Secrets across namespaces."""
    try:
        found = client.CoreV1Api(conn.api).list_secret_for_all_namespaces(
            label_selector=identity.managed_selector(), field_selector=f"metadata.name={name}"
        )
    except ApiException as exc:
        if exc.status == 403:
            return None
        raise errors.translate(exc, verb="list", kind="Secret", namespace=None) from None
    items = conn.api.sanitize_for_serialization(found.items)
    return sorted(str(s["metadata"]["namespace"]) for s in items)
