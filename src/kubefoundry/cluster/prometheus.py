"""Range queries to a cluster's Prometheus, reached the way its URL says.

A URL naming a Service (``http://prometheus-operated.monitoring.svc:9090``, the default
``serving.prometheus`` that KEDA's scaler queries in the cluster) is reached through the API
server's service proxy with the kubeconfig's credentials, as ``top`` reaches pods; any other
URL (a port-forward, an ingress, the sandbox's own Prometheus) directly. Prometheus' own
error (a bad query) and a refusal on the way are told apart.
"""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.parse
from typing import Any

import httpx

from kubefoundry.cluster import proxying
from kubefoundry.cluster.connecting import Connection
from kubefoundry.core.errors import (
    KubeFoundryError,
    NotFoundError,
    PermanentError,
    RetryableError,
)

TIMEOUT_S = 10.0
_SERVICE = re.compile(r"(?P<name>[a-z0-9-]+)\.(?P<namespace>[a-z0-9-]+)\.svc(\.cluster\.local)?")


@dataclasses.dataclass(frozen=True)
class Where:
    """A Prometheus URL, as reached from here."""

    url: str
    service: tuple[str, str, int] | None  # (namespace, name, port) behind the API server
    scheme: str
    path: str  # the URL's path prefix (a Prometheus behind a route may have one)

    @classmethod
    def of(cls, url: str) -> Where:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        found = _SERVICE.fullmatch(host)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        service = (found["namespace"], found["name"], port) if found else None
        return cls(url, service, parts.scheme or "http", parts.path.rstrip("/"))

    @property
    def how(self) -> str:
        return "through the API server's service proxy" if self.service else "directly"


def query_range(
    conn: Connection, where: Where, query: str, *, start: float, end: float, step_s: float
) -> dict[str, Any]:
    """Prometheus' answer to ``/api/v1/query_range`` (its JSON, ``status`` included)."""
    params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s:g}"}
    path = f"{where.path}/api/v1/query_range?{urllib.parse.urlencode(params)}"
    try:
        if where.service is not None:
            namespace, name, port = where.service
            text = proxying.service_get(
                conn,
                namespace=namespace,
                service=name,
                port=port,
                path=path,
                scheme=where.scheme,
                timeout_s=TIMEOUT_S,
            )
        else:
            text = _direct(where, path)
    except NotFoundError:
        namespace, name, _ = where.service or ("", "", 0)
        raise PermanentError(
            f"Prometheus at {where.url}: no Service {name} in namespace {namespace}.",
            hint="Set the deployment's serving.prometheus to the URL of the Prometheus this "
            "cluster runs; KEDA's scaler asks the same URL.",
        ) from None
    except KubeFoundryError as err:  # said again, naming Prometheus and the way to it
        again = RetryableError if isinstance(err, RetryableError) else PermanentError
        raise again(
            f"Prometheus at {where.url} ({where.how}): {err.message}", hint=err.hint
        ) from None
    return _json(where, text)


def _direct(where: Where, path: str) -> str:
    parts = urllib.parse.urlsplit(where.url)
    try:
        answer = httpx.get(f"{parts.scheme}://{parts.netloc}{path}", timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise RetryableError(
            f"Prometheus at {where.url} did not answer: {exc}",
            hint="Check the URL (serving.prometheus) is reachable from this machine.",
        ) from None
    if answer.status_code >= 400:
        error = PermanentError if answer.status_code < 500 else RetryableError
        said = answer.text.strip().splitlines()[:1]
        raise error(
            f"Prometheus at {where.url} answered HTTP {answer.status_code}"
            + (f": {said[0][:200]}" if said else "")
        )
    return answer.text


def _json(where: Where, text: str) -> dict[str, Any]:
    try:
        answer = json.loads(text)
    except ValueError:
        raise PermanentError(
            f"What answered at {where.url} is not Prometheus' API (no JSON): {text[:120]!r}"
        ) from None
    if not isinstance(answer, dict):
        raise PermanentError(f"What answered at {where.url} is not Prometheus' API")
    return answer
