"""What the API's routers share: the cluster connection, as whoever is asking.

The server's own connection lives on ``app.state.cluster`` (made on first use). With
``--auth kubernetes`` a route's ``Depends(connection)`` gets a connection that impersonates
the signed-in user instead (``guarding`` found them, ``auth`` reviewed their token), made
from the server's credentials and kept a few minutes per user; every other mode gets the
server's own. Routes never choose: they ask for ``Cluster`` and act as the right identity.

``visible_namespaces``: where the current user may list deployments, for views built from
a cache read with the server's identity (the watch cache), so such a view shows each user
only what their own listing would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from kubefoundry.api import auth, errors
from kubefoundry.cluster import reviews
from kubefoundry.cluster.connecting import Connection, Target
from kubefoundry.core.errors import RetryableError

USER_CONNECTION_TTL_S = 300.0
VISIBILITY_TTL_S = 30.0  # a new RoleBinding shows in listings this long after at most

Visibility = dict[str, frozenset[str]]  # namespace → root kinds (Kind names) listable there


class ClusterHolder:
    """The server's own connection (made on first use) and the per-user ones that
    impersonate signed-in users, each kept ``USER_CONNECTION_TTL_S``."""

    def __init__(self, target: Target | None, *, clock: Callable[[], float] = time.monotonic):
        self.target = target
        self._conn: Connection | None = None
        self._users: dict[reviews.User, tuple[float, Connection]] = {}
        self._visible: dict[reviews.User, tuple[float, Visibility | None]] = {}
        self._clock = clock
        self._lock = threading.Lock()

    def get(self) -> Connection:
        """The server's own connection."""
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

    def acting_for(self, user: reviews.User) -> Connection:
        """A connection that impersonates ``user`` (the server's credentials, their RBAC)."""
        own = self.get()
        now = self._clock()
        with self._lock:
            stale = [u for u, (until, _) in self._users.items() if until < now]
            for u in stale:
                self._users.pop(u)[1].close()
            found = self._users.get(user)
            if found is None:
                found = (now + USER_CONNECTION_TTL_S, own.impersonating(
                    user.name, groups=user.groups, uid=user.uid
                ))  # fmt: skip
                self._users[user] = found
            return found[1]

    def visibility(self, user: reviews.User) -> Visibility | None:
        """Where ``user`` may list deployment roots, by namespace; None: everywhere."""
        now = self._clock()
        with self._lock:
            cached = self._visible.get(user)
        if cached is not None and cached[0] >= now:
            return cached[1]
        found = _visibility(self.acting_for(user), own=self.get())
        with self._lock:
            self._visible[user] = (now + VISIBILITY_TTL_S, found)
        return found

    def close(self) -> None:
        with self._lock:
            for _, conn in self._users.values():
                conn.close()
            self._users.clear()
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def switch(self, target: Target | None) -> None:
        """Act on ``target`` from now on (the sandbox started or stopped from the page): the
        connections made so far are closed, the next are made on first use."""
        with self._lock:
            old = [conn for _, conn in self._users.values()]
            old += [self._conn] if self._conn is not None else []
            self._users.clear()
            self._visible.clear()
            self._conn, self.target = None, target
        for conn in old:
            conn.close()


def _visibility(as_user: Connection, *, own: Connection) -> Visibility | None:
    """Every namespace (listed with the server's identity, else the user's) mapped to the
    root kinds the user may list there; None when they may list them all everywhere."""
    from kubefoundry.core.errors import PermanentError
    from kubefoundry.runtimes import registry

    kinds = {reviews.Resource(k.group, k.plural): k.kind for k in registry.default().root_kinds()}
    if reviews.may_list_everywhere(as_user, kinds):
        return None
    try:
        names = reviews.namespaces(own)
    except PermanentError:
        try:
            names = reviews.namespaces(as_user)
        except PermanentError:
            names = [as_user.namespace]  # at least the one the server was started in
    found = reviews.listable(as_user, namespaces=names, resources=list(kinds))
    return {ns: frozenset(kinds[r] for r in allowed) for ns, allowed in found.items()}


def who(request: Request) -> auth.RequestAuth | None:
    """What ``guarding`` found for this request (None when the app runs without it)."""
    found: auth.RequestAuth | None = getattr(request.state, "auth", None)
    return found


def _user(request: Request) -> reviews.User | None:
    found = who(request)
    if found is not None and found.mode is auth.Mode.KUBERNETES:
        if found.principal is None or found.principal.user is None:
            raise errors.UnauthorizedError()  # only public paths get here unsigned
        return found.principal.user
    return None


def connection(request: Request) -> Connection:
    """The connection to act on for this request: the signed-in user's (impersonating
    them) with ``--auth kubernetes``, else the server's own."""
    holder: ClusterHolder = request.app.state.cluster
    user = _user(request)
    return holder.get() if user is None else holder.acting_for(user)


def own_connection(request: Request) -> Connection:
    """The server's own connection, whoever asks: only for what every signed-in user may
    know (the cluster's GPU pools and installed runtimes), never for their objects."""
    holder: ClusterHolder = request.app.state.cluster
    return holder.get()


Cluster = Annotated[Connection, Depends(connection)]
OwnCluster = Annotated[Connection, Depends(own_connection)]


def visible(request: Request) -> Visibility | None:
    """Namespace → the deployment root kinds this request's user may list there; None when
    they may list them everywhere (token and none modes: the server's own identity)."""
    user = _user(request)
    if user is None:
        return None
    holder: ClusterHolder = request.app.state.cluster
    return holder.visibility(user)


def visible_namespaces(request: Request) -> set[str] | None:
    """The namespaces where this request's user may list deployments (any root kind);
    None = everything. Filter rows read with the server's identity through this."""
    found = visible(request)
    return None if found is None else set(found)


def require_listable(request: Request, namespace: str) -> None:
    """Refuse (403) a listing of ``namespace`` the user's RBAC does not allow: a view read
    from the server's cache must not answer with an empty list where the user's own
    listing would be refused."""
    allowed = visible(request)
    if allowed is None or namespace in allowed:
        return
    from kubefoundry.cluster.errors import ForbiddenError

    user = _user(request)
    where = ", ".join(sorted(allowed)) or "none"
    raise ForbiddenError(
        f"Not allowed to list deployments in namespace {namespace}"
        + (f" as {user.name}" if user else "")
        + ".",
        verb="list",
        resource="deployments",
        namespace=namespace,
        hint=f"Check with `kubectl auth can-i list deployments -n {namespace}`; ask an admin "
        f"for a RoleBinding there. Namespaces you may list deployments in: {where}.",
    )


def authenticated(request: Request) -> None:
    """Fails unless ``guarding`` let this request in as someone (it refuses the others
    first; this is the belt to its braces, and how OpenAPI learns the routes want it)."""
    found = who(request)
    if found is not None and found.principal is None:
        raise errors.UnauthorizedError()


def bearer(token: str | None = None) -> Any:
    """The guard routers add to their routes. Authentication itself happens in
    ``guarding`` (the token is the app's, given to ``create_app``); kept for callers."""
    del token
    return Depends(authenticated)
