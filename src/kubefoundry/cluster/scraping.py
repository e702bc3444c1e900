"""A pod's /metrics through the API server's pod proxy, for clusters without a Prometheus.

The API server dials the pod's address itself (``GET /api/v1/namespaces/NS/pods/NAME:PORT/
proxy/metrics``), so this works from a laptop outside the cluster network, with the same
credentials as everything else, and needs the ``pods/proxy`` ``get`` right. A pod that does
not answer comes back from the API server as a 5xx (retryable); a refusal as 403.
"""

from __future__ import annotations

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubefoundry.cluster import errors
from kubefoundry.cluster.connecting import Connection

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
        raise errors.translate(
            exc, verb="get", kind="pods/proxy", name=pod, namespace=namespace
        ) from None
    return str(text)
