"""Live deployments over HTTP: the list, a deployment's status, its events and its logs as
server-sent events, read from the watch cache (``deploy/watching``) (``/api/v1``).

The app holds one ``DeploymentCache`` (``app.state.deployment_cache``), made from the
server's own connection on first use and stopped with the app. Every stream and the list
read it, so a page of a thousand deployments open in ten tabs still costs the API server one
watch per kind. Rows come from the server's identity; with ``--auth kubernetes`` they are
cut down to what the user may list (``deps.visible``), and a deployment the user may not see
is not found. Logs are read as the user (``deps.Cluster``): the API server checks those.

Streams (``text/event-stream``; each event's data is one JSON line, ``api/sse``):

- ``/deployments/stream``: ``deployments`` with ``{"deployments": [...], "hidden": [...]}``
  first and after every change, changes within ``COALESCE_S`` sent as one;
- ``/deployments/{ns}/{name}/status/stream``: ``status`` (the body of
  ``GET /deployments/{ns}/{name}``) when it changes, ``k8s-event`` for each Kubernetes event
  that arrives after the stream began (the page renders the earlier ones), ``deleted`` when
  the deployment goes; ``until=terminal`` ends it once ready or failed;
- ``/deployments/{ns}/{name}/logs?follow=true``: ``log`` per line, ``problem`` for a pod
  whose logs cannot be read (kwok's pods have none), ``end`` when every pod's stream ended.

A quiet stream gets a ``: keep-alive`` comment every ``sse.KEEPALIVE_S``; a client that goes
away frees its subscription and its log threads at once (``_Stream`` closes the generator).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse
from starlette.types import Send

from kubefoundry.api import deps, sse
from kubefoundry.api.errors import RESPONSES as ERRORS
from kubefoundry.cluster.connecting import Connection
from kubefoundry.core.errors import NotFoundError
from kubefoundry.deploy import deploying, logs, phases
from kubefoundry.deploy.watching import DeploymentCache

COALESCE_S = 0.25  # a burst of changes becomes one event
LOG_POLL_S = 5.0  # while a pod loads, its phase comes from log lines, which have no stream
_MAKING = threading.Lock()  # one holder per app, even when two first requests race
STREAM: dict[int | str, dict[str, Any]] = {
    200: {"content": {sse.MEDIA_TYPE: {}}, "description": "Server-sent events."}
}


class EventRow(BaseModel):
    type: str
    reason: str
    message: str
    object: str
    count: int
    time: str | None


class LogsBody(BaseModel):
    pods: dict[str, list[str]]
    problems: dict[str, str] = {}  # pod → why its logs could not be read


class CacheHolder:
    """The app's one cache, made from the server's own connection on first use and made
    again when that connection changes (the sandbox started from the page)."""

    def __init__(self) -> None:
        self._cache: DeploymentCache | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def get(self, cluster: deps.ClusterHolder) -> DeploymentCache:
        conn = cluster.get()
        with self._lock:
            if self._cache is None or self._conn is not conn:
                if self._cache is not None:
                    self._cache.stop()
                self._cache, self._conn = DeploymentCache.connect(conn).start(), conn
            cache = self._cache
        cache.wait_synced()  # a retryable error (503) while the API server does not answer
        return cache

    def stop(self) -> None:
        with self._lock:
            if self._cache is not None:
                self._cache.stop()
            self._cache = self._conn = None


def holder(app: FastAPI) -> CacheHolder:
    with _MAKING:
        found: CacheHolder | None = getattr(app.state, "deployment_cache", None)
        if found is None:
            found = app.state.deployment_cache = CacheHolder()
        return found


def cache(request: Request) -> DeploymentCache:
    """The app's deployment cache, listed and watching (a dependency)."""
    return holder(request.app).get(request.app.state.cluster)


Cache = Annotated[DeploymentCache, Depends(cache)]


def visible_rows(
    request: Request, found: DeploymentCache, namespace: str | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows in ``namespace`` (None: all) this request's user may list, and what is
    hidden from them: root kinds the server may not watch, namespaces RBAC keeps from
    the user."""
    if namespace is not None:
        deps.require_listable(request, namespace)  # 403, as the user's own listing would
    allowed = deps.visible(request)
    rows = found.rows(
        namespace, namespaces=None if allowed is None else set(allowed), with_status=True
    )
    hidden = found.hidden()
    if allowed is not None:
        rows = [r for r in rows if r["kind"] in allowed.get(str(r["namespace"]), ())]
        shown = ", ".join(sorted(allowed)) or "none"
        hidden.append(f"namespaces other than {shown} (RBAC)")
    return rows, hidden


def events_of(request: Request, *, name: str, namespace: str) -> list[dict[str, Any]]:
    """Deployment ``name``'s events from the cache, if this request's user may list it."""
    found = cache(request)
    _visible_root(request, found, name, namespace)
    return found.events(name, namespace)


def _visible_root(request: Request, found: DeploymentCache, name: str, namespace: str) -> Any:
    """Deployment ``name``'s root, if this request's user may list it; else not found."""
    root = found.root(name, namespace)
    allowed = deps.visible(request)
    if allowed is not None and root["kind"] not in allowed.get(namespace, ()):
        raise deploying.missing(name, namespace=namespace, here=())
    return root


def router() -> APIRouter:
    router = APIRouter(lifespan=_lifespan)

    @router.get("/deployments/stream", responses={**ERRORS, **STREAM})
    async def deployments_stream(
        request: Request,
        found: Cache,
        namespace: Annotated[str | None, Query(max_length=63)] = None,
    ) -> StreamingResponse:
        """The deployments (as ``GET /deployments`` lists them) now and after each change."""

        async def frames() -> AsyncIterator[str]:
            wakeup = _Wakeup()
            with found.subscribe(namespace=namespace, wake=wakeup):
                while True:
                    rows, hidden = await run_in_threadpool(visible_rows, request, found, namespace)
                    yield sse.event("deployments", {"deployments": rows, "hidden": hidden})
                    while not await wakeup.wait(sse.KEEPALIVE_S):
                        yield sse.KEEPALIVE
                    await asyncio.sleep(COALESCE_S)
                    wakeup.clear()

        return _Stream(frames())

    @router.get("/deployments/{namespace}/{name}/status/stream", responses={**ERRORS, **STREAM})
    async def status_stream(
        request: Request,
        namespace: str,
        name: str,
        found: Cache,
        until: Literal["terminal", "never"] = "never",
    ) -> StreamingResponse:
        """The deployment's status when it changes, and each new Kubernetes event about it;
        ``until=terminal`` ends the stream once it is ready or failed."""
        await run_in_threadpool(_visible_root, request, found, name, namespace)
        first = await run_in_threadpool(found.status, name, namespace, read_logs=True)
        seen = {_event_key(e) for e in found.events(name, namespace)}
        return _Stream(_status_frames(found, name, namespace, first, seen, until))

    @router.get(
        "/deployments/{namespace}/{name}/events",
        response_model=list[EventRow],
        responses=ERRORS,
    )
    def deployment_events(
        request: Request, namespace: str, name: str, found: Cache
    ) -> list[dict[str, Any]]:
        """The Kubernetes events about the deployment's root object and pods, newest last."""
        _visible_root(request, found, name, namespace)
        return found.events(name, namespace)

    @router.get(
        "/deployments/{namespace}/{name}/logs",
        response_model=LogsBody,
        responses={**ERRORS, **STREAM},
    )
    async def deployment_logs(
        request: Request,
        namespace: str,
        name: str,
        found: Cache,
        conn: deps.Cluster,
        tail: Annotated[int, Query(ge=1, le=10_000)] = 200,
        follow: bool = False,
        pod: Annotated[str | None, Query(max_length=253)] = None,
        container: Annotated[str | None, Query(max_length=63)] = None,
    ) -> Any:
        """The last ``tail`` lines of each pod's log (or of ``pod``; ``container`` for another
        than the engine's); ``follow=true`` streams them as they come. A pod whose log cannot
        be read (not started, or a kwok pod, which has none) is named in ``problems``."""
        await run_in_threadpool(_visible_root, request, found, name, namespace)
        chosen = logs.choose(
            found.pods(name, namespace), deployment=name, pod=pod, container=container
        )
        if follow:
            return _Stream(
                _log_frames(logs.Following(conn, chosen, namespace=namespace, lines=tail))
            )
        read = await run_in_threadpool(logs.tails, conn, chosen, namespace=namespace, lines=tail)
        return LogsBody(pods=read.lines, problems=read.problems)

    return router


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    holder(app)  # before the first request, so none races to make it
    try:
        yield
    finally:
        await run_in_threadpool(holder(app).stop)


async def _status_frames(
    found: DeploymentCache,
    name: str,
    namespace: str,
    now: phases.Progress,
    seen: set[tuple[Any, ...]],
    until: str,
) -> AsyncIterator[str]:
    wakeup = _Wakeup()
    with found.subscribe(namespace=namespace, deployment=name, wake=wakeup):
        last: dict[str, Any] | None = None
        while True:
            body = now.to_dict()
            if body != last:
                yield sse.event("status", body)
                last = body
            for row in found.events(name, namespace):
                if _event_key(row) not in seen:
                    seen.add(_event_key(row))
                    yield sse.event("k8s-event", row)
            if until == "terminal" and now.phase.is_terminal:
                return
            # Loading: its phase comes from log lines, which no stream announces.
            from_logs = now.phase in (phases.Phase.DOWNLOADING, phases.Phase.LOADING)
            while not await wakeup.wait(LOG_POLL_S if from_logs else sse.KEEPALIVE_S):
                yield sse.KEEPALIVE
                if from_logs:
                    break
            await asyncio.sleep(COALESCE_S)
            wakeup.clear()
            try:
                now = await run_in_threadpool(found.status, name, namespace, read_logs=True)
            except NotFoundError:
                yield sse.event("deleted", {"namespace": namespace, "name": name})
                return


async def _log_frames(following: logs.Following) -> AsyncIterator[str]:
    """Each pod's lines as ``deploy/logs`` follows them, from its threads into this loop."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[logs.Entry] = asyncio.Queue()

    def deliver(entry: logs.Entry) -> None:  # on a pod's thread
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody listens
            loop.call_soon_threadsafe(queue.put_nowait, entry)

    with following.start(deliver):
        left = len(following.pods)
        while left:
            try:
                entry = await asyncio.wait_for(queue.get(), sse.KEEPALIVE_S)
            except TimeoutError:
                yield sse.KEEPALIVE
                continue
            if entry.kind == "line":
                yield sse.event("log", {"pod": entry.pod, "line": entry.text})
                continue
            left -= 1
            if entry.kind == "problem":
                yield sse.event("problem", {"pod": entry.pod, "message": entry.text})
        yield sse.event("end", {"pods": following.pods})


def _event_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["object"], row["reason"], row["message"], row["count"], row["time"])


class _Wakeup:
    """A reflector thread's "something changed", delivered to this event loop."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def __call__(self) -> None:  # on a reflector's thread
        with contextlib.suppress(RuntimeError):  # the loop closed: the stream is gone
            self._loop.call_soon_threadsafe(self._event.set)

    async def wait(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._event.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def clear(self) -> None:
        self._event.clear()


class _Stream(StreamingResponse):
    """An event stream that closes its generator however the response ends: a client that
    went away (a failed write) leaves it suspended at a ``yield``, and only closing it
    runs its ``finally`` (the subscription, the log threads) now rather than at GC."""

    def __init__(self, frames: AsyncIterator[str]) -> None:
        super().__init__(frames, media_type=sse.MEDIA_TYPE, headers=sse.HEADERS)
        self._frames = frames

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        finally:
            closing = getattr(self._frames, "aclose", None)
            if closing is not None:
                await closing()
