"""What the web pages get from the API's side of the application.

The pages are a shell beside the API (import-linter keeps them apart), yet they must act as
the same user, on the same watch cache and with the same settings as the API's routes. The
API owns those decisions (who the user is, which connection acts for them, what they may
list), so it hands the pages one object, ``app.state.services``, whose methods answer for a
request. The pages never learn how authentication or impersonation work.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi import Request

from kubefoundry.api import deployments, deps, sandbox, settings, streams
from kubefoundry.cluster.connecting import Connection

FACTS_TTL_S = 15.0


class PageServices:
    """One request's view of the server, for the pages."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._facts: dict[int, tuple[float, Any]] = {}

    def connection(self, request: Request) -> Connection:
        """The connection acting for the request's user (impersonating them when the server
        checks Kubernetes tokens)."""
        return deps.connection(request)

    def own_connection(self, request: Request) -> Connection:
        """The server's own connection: only for what every user may know (GPU pools,
        installed runtimes), never for their objects."""
        return deps.own_connection(request)

    def facts(self, request: Request) -> Any:
        """The cluster's facts (GPU pools, runtimes, classes) as the server sees them, kept
        ``FACTS_TTL_S``: a preview that follows the fields as they change re-plans on every
        change, and discovery reads every node and pod. A deploy itself discovers afresh."""
        from kubefoundry.deploy import discovering

        with self._lock:
            kept = self._facts.get(id(request.app))
            if kept and time.monotonic() - kept[0] < FACTS_TTL_S:
                return kept[1]
        facts, _ = discovering.discover(deps.own_connection(request))
        with self._lock:
            self._facts[id(request.app)] = (time.monotonic(), facts)
        return facts

    def prices(self, request: Request) -> dict[str, float]:
        """The on-prem GPU prices stored in the server's settings."""
        return settings.stored_prices(request)

    def deployments(
        self, request: Request, namespace: str | None
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """The rows the user may see (the API's list: the watch cache, filtered by RBAC)."""
        conn = deps.connection(request)
        return deployments.listed(request, conn, streams.cache(request), namespace)

    def events(self, request: Request, *, name: str, namespace: str) -> list[dict[str, Any]]:
        """A deployment's events so far, from the watch cache (404 when the user may not
        see it)."""
        return streams.events_of(request, name=name, namespace=namespace)

    def panel(self, request: Request) -> dict[str, Any]:
        """Where the server deploys, or how to get a cluster (the pages' cluster panel)."""
        return sandbox.connection_state(request.app)

    def settings_store(self, request: Request, *, writer: bool) -> Any:
        """Where the server keeps its settings (the cluster's ConfigMap, written as the user;
        else the user's config folder)."""
        return settings.store_for(request, writer=writer)

    def has_cluster(self, request: Request) -> bool:
        """Whether the server was given a cluster to act on (it may still be unreachable)."""
        return request.app.state.cluster.target is not None
