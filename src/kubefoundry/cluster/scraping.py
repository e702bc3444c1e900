"""A pod's /metrics through the API server's pod proxy, for clusters without a Prometheus.

The API server dials the pod's address itself (``GET /api/v1/namespaces/NS/pods/NAME:PORT/
proxy/metrics``), so this works from a laptop outside the cluster network, with the same
credentials as everything else, and needs the ``pods/proxy`` ``get`` right.

Two kinds of error come back, told apart by the body: the API server's own (a JSON
``Status``: RBAC's 403, a pod that does not exist, a 5xx when it cannot reach the pod) are
translated like any other; anything else is the pod's answer (or whatever answered at its
address) passed through with its status code, and says so, so that a 403 from a model
server's auth proxy is never worded as our RBAC.
"""

from __future__ import annotations

import json

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubefoundry.cluster import errors
from kubefoundry.cluster.connecting import Connection
from kubefoundry.core.errors import PermanentError, RetryableError

TIMEOUT_S = 5.0  # a model server answers /metrics in milliseconds, even under load


def pod_metrics(
    conn: Connection,
    *,
    namespace: str,
    pod: str,
    port: int | str,
    path: str = "metrics",
    timeout_s: float = TIMEOUT_S,
) -> str:
    """The text the pod serves at ``path`` on ``port`` (a number or a container port's name)."""
    core = client.CoreV1Api(conn.api)
    try:
        text = core.connect_get_namespaced_pod_proxy_with_path(
            f"{pod}:{port}", namespace, path, _request_timeout=timeout_s
        )
    except ApiException as exc:
        if from_api_server(exc):
            raise errors.translate(
                exc, verb="get", kind="pods/proxy", name=pod, namespace=namespace
            ) from None
        said = str(exc.body or "").strip().splitlines()[:1]
        message = f"the pod answered HTTP {exc.status} at /{path}" + (
            f" ({said[0][:120]})" if said else ""
        )
        if int(exc.status or 0) >= 500:
            raise RetryableError(message) from None
        raise PermanentError(message) from None
    return str(text)


def from_api_server(exc: ApiException) -> bool:
    """Whether the error is the API server's own (a JSON Status), not the pod's answer."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return False
    return isinstance(body, dict) and body.get("kind") == "Status"
