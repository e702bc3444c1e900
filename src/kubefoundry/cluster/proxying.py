"""HTTP to a pod through the API server's pod proxy: the way ``top`` reads a model server's
/metrics and ``chat`` and ``bench`` reach its API from outside the cluster network, with the
kubeconfig's credentials (the ``pods/proxy`` right), like ``kubectl port-forward`` without
the tunnel. The API server dials the pod's address itself.

``get`` answers a body; ``post_lines`` streams the answer line by line as it comes (a model
server's server-sent events). Two kinds of error come back, told apart by the body: the API
server's own (a JSON ``Status``: RBAC's 403, a pod that does not exist, a 5xx when it cannot
reach the pod) are translated like any other; anything else is the pod's answer (or whatever
answered at its address) passed through with its status code, and says so, so that a 403
from a model server's auth proxy is never worded as our RBAC.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException

from kubefoundry.cluster import errors, transport
from kubefoundry.cluster.connecting import Connection
from kubefoundry.core.errors import PermanentError, RetryableError

TIMEOUT_S = 10.0


def get(
    conn: Connection,
    *,
    namespace: str,
    pod: str,
    port: int,
    path: str,
    timeout_s: float = TIMEOUT_S,
) -> str:
    """GET ``path`` of the pod on ``port``; the body as text."""
    return _text(conn, namespace, f"pods/{pod}:{port}", path, timeout_s)


def post_lines(
    conn: Connection,
    *,
    namespace: str,
    pod: str,
    port: int,
    path: str,
    body: dict[str, Any],
    read_timeout_s: float = 120.0,
) -> Iterator[str]:
    """POST ``body`` as JSON; the answer's lines as they arrive (blank lines included)."""
    response = _call(conn, "POST", namespace, f"pods/{pod}:{port}", path, body, read_timeout_s)
    try:
        pending = b""
        for chunk in response.stream(4096, decode_content=True):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", "replace").rstrip("\r")
        if pending:
            yield pending.decode("utf-8", "replace")
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise transport.failure(exc, conn.api.endpoint) from None
    finally:
        with contextlib.suppress(Exception):
            response.release_conn()


def service_get(
    conn: Connection,
    *,
    namespace: str,
    service: str,
    port: int,
    path: str,
    scheme: str = "http",
    timeout_s: float = TIMEOUT_S,
) -> str:
    """GET ``path`` (with its query string) of a Service's endpoint on ``port`` through the
    API server's service proxy (the ``services/proxy`` right); the body as text."""
    return _text(conn, namespace, f"services/{scheme}:{service}:{port}", path, timeout_s)


def _text(conn: Connection, namespace: str, target: str, path: str, timeout_s: float) -> str:
    response = _call(conn, "GET", namespace, target, path, None, timeout_s)
    try:
        return bytes(response.data).decode("utf-8", "replace")
    finally:
        response.release_conn()


def _call(
    conn: Connection,
    method: str,
    namespace: str,
    target: str,
    path: str,
    body: dict[str, Any] | None,
    read_timeout_s: float,
) -> Any:
    api = conn.api
    resource = f"/api/v1/namespaces/{namespace}/{target}/proxy/{path.lstrip('/')}"
    headers = {"Accept": "*/*"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    method, url, headers, _, _ = api.param_serialize(
        method, resource, header_params=headers, auth_settings=["BearerToken"]
    )
    try:  # the client serialises a JSON body itself
        answer = api.call_api(
            method, url, headers, body, _request_timeout=(TIMEOUT_S, read_timeout_s)
        )
        if not 200 <= answer.status <= 299:
            answer.read()
            api.response_deserialize(answer, {})  # raises the ApiException
    except ApiException as exc:
        raise _refused(exc, target=target, namespace=namespace, path=path) from None
    return answer.response


def _refused(exc: ApiException, *, target: str, namespace: str, path: str) -> Exception:
    kind, _, where = target.partition("/")  # pods/NAME:PORT or services/SCHEME:NAME:PORT
    name, port = where.split(":")[-2:]
    if from_api_server(exc):
        return errors.translate(
            exc, verb="get", kind=f"{kind}/proxy", name=name, namespace=namespace
        )
    said = str(exc.body or "").strip().splitlines()[:1]
    who = "Pod" if kind == "pods" else "Service"
    message = f"{who} {name} answered HTTP {exc.status} at :{port}/{path.lstrip('/')}" + (
        f": {said[0][:200]}" if said else ""
    )
    return RetryableError(message) if int(exc.status or 0) >= 500 else PermanentError(message)


def from_api_server(exc: ApiException) -> bool:
    """Whether the error is the API server's own (a JSON Status), not the pod's answer."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return False
    return isinstance(body, dict) and body.get("kind") == "Status"
