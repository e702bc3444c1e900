"""What the API's routers share: the cluster connection and the bearer-token guard.

The connection lives on ``app.state.cluster`` (one per application, made on first use);
routes ask for it with ``Depends(connection)``, so every router reaches the same one and a
later per-user connection (impersonation) changes this module only.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from kubefoundry.api import errors
from kubefoundry.cluster.connecting import Connection, Target
from kubefoundry.core.errors import RetryableError


class ClusterHolder:
    """The one connection the deployment routes share, made on first use."""

    def __init__(self, target: Target | None) -> None:
        self.target = target
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def get(self) -> Connection:
        if self.target is None:
            raise RetryableError(
                "This server has no cluster to act on.",
                delay_s=60,
                hint="Start it with `kubefoundry serve --kubeconfig PATH` (or `kubefoundry "
                "sandbox up` for a local one); the catalog, plan and render work without.",
            )
        with self._lock:
            if self._conn is None:
                from kubefoundry.cluster import connecting

                self._conn = connecting.connect(self.target)
            return self._conn

    def switch(self, target: Target | None) -> None:
        """Act on ``target`` from now on (the sandbox started or stopped from the page): the
        old connection is closed, the next is made on first use."""
        with self._lock:
            old, self._conn, self.target = self._conn, None, target
        if old is not None:
            old.close()


def connection(request: Request) -> Connection:
    """The cluster connection of the application serving ``request``."""
    holder: ClusterHolder = request.app.state.cluster
    return holder.get()


Cluster = Annotated[Connection, Depends(connection)]


def bearer(token: str | None) -> Any:
    """A dependency that wants ``Authorization: Bearer <token>`` when a token is set."""

    def check(authorization: Annotated[str | None, Header()] = None) -> None:
        if token is None:
            return
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise errors.UnauthorizedError()

    dependency: Callable[..., None] = check
    return Depends(dependency)
