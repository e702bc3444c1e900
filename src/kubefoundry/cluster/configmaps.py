"""A ConfigMap as a small key-value store: KubeFoundry's own settings in the cluster.

Only ``deploy/settings.py`` uses it, for the server's settings (on-prem GPU prices), so every
server connected to the cluster plans with the same prices. Values are plain text; no secret
ever goes into a ConfigMap (the Hugging Face token goes to a Secret, ``secrets.py``).
"""

from __future__ import annotations

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubefoundry.cluster import errors
from kubefoundry.cluster.connecting import Connection
from kubefoundry.core import identity


def read(conn: Connection, *, name: str, namespace: str) -> dict[str, str] | None:
    """The ConfigMap's data; ``None`` when it does not exist."""
    try:
        found = client.CoreV1Api(conn.api).read_namespaced_config_map(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise errors.translate(
            exc, verb="get", kind="ConfigMap", name=name, namespace=namespace
        ) from None
    return dict(found.data or {})


def write(conn: Connection, *, name: str, namespace: str, data: dict[str, str]) -> str:
    """Create ConfigMap ``name`` with ``data``, or replace the keys given; "created"/"updated"."""
    core = client.CoreV1Api(conn.api)
    body = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(
            name=name, namespace=namespace, labels=identity.managed_labels()
        ),
        data=data,
    )
    exists = read(conn, name=name, namespace=namespace) is not None
    try:
        if exists:
            core.patch_namespaced_config_map(name, namespace, body)
        else:
            core.create_namespaced_config_map(namespace, body)
    except ApiException as exc:
        raise errors.translate(
            exc,
            verb="patch" if exists else "create",
            kind="ConfigMap",
            name=name,
            namespace=namespace,
        ) from None
    return "updated" if exists else "created"
