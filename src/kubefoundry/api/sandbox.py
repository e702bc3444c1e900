"""Where the server acts, and the sandbox started from the web page (``/api/v1``).

``GET /cluster/connection`` says whether the app has a cluster and, when not, why and how to
get one: no kubeconfig at all (start the sandbox, or pass one), a kubeconfig that cannot be
used (which file, what is wrong with it), a server that does not answer (which one, and
why). ``POST /sandbox`` starts the user's sandbox in the background (``sandbox_job.Job``)
and the app then acts on it; ``GET /sandbox`` and ``GET /sandbox/stream`` (server-sent
events) follow it; ``DELETE /sandbox`` stops it. ``connection_state(app)`` is the same
answer for the pages. Nothing here carries a credential: the kubeconfig's path, the server's
address and the context's name only.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Request, Response
from pydantic import BaseModel, Field
from starlette.responses import StreamingResponse

from kubefoundry.api import sse
from kubefoundry.api.errors import RESPONSES as ERRORS
from kubefoundry.api.sandbox_job import Job, State
from kubefoundry.cluster import connecting
from kubefoundry.core.errors import KubeFoundryError
from kubefoundry.sandbox import components

POLL_S = 0.25  # how often a stream looks for new progress lines
PROBE_TTL_S = 10.0  # a page shows a reachability at most this old
_MAKING = threading.Lock()  # one Job per app, even when two first requests race


class SandboxLine(BaseModel):
    line: str
    stage: str = Field(description="building, starting, running or failed.")
    elapsed_s: float = Field(description="Seconds since the start began.")


class Problem(BaseModel):
    message: str
    hint: str | None


class SandboxBody(BaseModel):
    """The sandbox as this server knows it."""

    state: State
    lines: list[SandboxLine] = Field(description="The progress so far (of the last start).")
    elapsed_s: float | None
    error: Problem | None = Field(description="Why the start failed, and how to fix it.")
    server: str | None = Field(description="Its API server's address, once up.")
    kubeconfig: str | None = Field(description="The path of its kubeconfig, once up.")


class StoppedBody(SandboxBody):
    stopped: bool = Field(description="Whether a sandbox was running and has been stopped.")


class SandboxOffer(BaseModel):
    state: State
    available: bool
    unavailable: str | None = Field(description="Why it cannot start here, and the fix.")
    error: Problem | None = Field(description="Why its last start failed, and the fix.")


class ConnectionBody(BaseModel):
    """Where the deployment routes act, or why they cannot and how to fix it."""

    connected: bool
    source: str | None = Field(description="kubeconfig or sandbox; null when not connected.")
    context: str | None
    server: str | None
    version: str | None = Field(description="The server's Kubernetes version.")
    kubeconfig: str | None = Field(description="The kubeconfig's path (never its content).")
    problem: str | None = Field(description="Why not connected, and how to fix it.")
    offer_sandbox: bool = Field(description="Whether starting the sandbox would give a cluster.")
    sandbox: SandboxOffer


def router() -> APIRouter:
    router = APIRouter()

    @router.get("/cluster/connection", response_model=ConnectionBody)
    def connection(request: Request) -> dict[str, Any]:
        """Where this server acts: the kubeconfig's context and server, or the sandbox; when
        nowhere, why and how to fix it (start the sandbox, pass --kubeconfig)."""
        return connection_state(request.app)

    @router.post(
        "/sandbox",
        status_code=202,
        response_model=SandboxBody,
        responses={**ERRORS, 200: {"model": SandboxBody, "description": "Already running."}},
    )
    def start_sandbox(request: Request, response: Response) -> dict[str, Any]:
        """Start the local sandbox (a Kubernetes control plane with simulated GPU nodes) in
        the background: 202, follow it on /sandbox/stream; the deployment routes act on it
        once it is up. Already running: 200. Without Go: 400 saying how to install it."""
        job = job_of(request.app)
        if not job.start():
            response.status_code = 200
        return job.snapshot()

    @router.get("/sandbox", response_model=SandboxBody)
    def sandbox_state(request: Request) -> dict[str, Any]:
        """The sandbox: idle, building, starting, running or failed; the progress lines so
        far, the seconds it has taken, the error and its fix."""
        job = job_of(request.app)
        job.refresh()
        return job.snapshot()

    @router.get(
        "/sandbox/stream",
        response_class=StreamingResponse,
        responses={200: {"content": {sse.MEDIA_TYPE: {}}, "description": "Server-sent events."}},
    )
    async def sandbox_stream(
        request: Request,
        last_event_id: Annotated[str | None, Header(max_length=20)] = None,
    ) -> StreamingResponse:
        """Server-sent events: ``progress`` ({line, stage, elapsed_s}) per line, from the
        first (or after ``Last-Event-ID``), then ``done`` with the state, as GET /sandbox."""
        given = last_event_id or ""
        start = int(given) + 1 if given.isascii() and given.isdigit() else 0
        return sse.response(_events(job_of(request.app), start))

    @router.delete("/sandbox", response_model=StoppedBody, responses=ERRORS)
    def stop_sandbox(request: Request) -> dict[str, Any]:
        """Stop the sandbox and delete its files; the app acts where it did before (no
        cluster, on a fresh machine). Nothing to stop is not an error."""
        job = job_of(request.app)
        stopped = job.stop()
        return {"stopped": stopped, **job.snapshot()}

    return router


async def _events(job: Job, start: int) -> AsyncIterator[str]:
    index = start
    while True:
        lines, busy = job.since(index)
        for index, line in lines:
            yield sse.event("progress", line, id=index)
        if lines:
            index += 1
        if not busy:
            yield sse.event("done", job.snapshot())
            return
        await asyncio.sleep(POLL_S)


def job_of(app: FastAPI) -> Job:
    """The application's sandbox job, made on first use (tests may set their own first)."""
    with _MAKING:
        job: Job | None = getattr(app.state, "sandbox", None)
        if job is None:
            job = app.state.sandbox = Job(app.state.cluster)
        return job


def _reachability(app: FastAPI) -> _Reachability:
    with _MAKING:
        found: _Reachability | None = getattr(app.state, "reachability", None)
        if found is None:
            found = app.state.reachability = _Reachability()
        return found


def connection_state(app: FastAPI) -> dict[str, Any]:
    """Where ``app`` acts, as ``GET /api/v1/cluster/connection`` answers (for the pages)."""
    job = job_of(app)
    why, now = job.availability(), job.snapshot()
    offer = {
        "state": now["state"],
        "available": why is None,
        "unavailable": why,
        "error": now["error"],
    }
    answer: dict[str, Any] = {
        "connected": False,
        "source": None,
        "context": None,
        "server": None,
        "version": None,
        "kubeconfig": None,
        "problem": None,
        "offer_sandbox": job.enabled,
        "sandbox": offer,
    }
    target = app.state.cluster.target
    if target is None:
        answer["problem"] = (
            "This server was started with --no-cluster: the catalog, plans and YAML work, "
            "deploying does not. Restart `kubefoundry serve` without it (and with "
            "--kubeconfig PATH for your cluster) to deploy."
        )
        return answer
    path, chosen = connecting.kubeconfig_path(target)
    answer["kubeconfig"] = str(path)
    try:
        conn = app.state.cluster.get()
    except KubeFoundryError as exc:
        if path.exists():  # a kubeconfig that cannot be used: which, and what is wrong
            answer["problem"] = _said(exc)
            return answer
        answer["kubeconfig"] = None
        answer["problem"] = (
            f"No cluster: there is no kubeconfig at {path} ({chosen}). Start the sandbox (a "
            "local cluster with simulated GPU nodes), or restart with `kubefoundry serve "
            "--kubeconfig PATH`."
        )
        return answer
    version, problem = _reachability(app).check(conn)
    if problem is not None:
        answer.update(context=conn.context, server=conn.server, problem=problem)
        return answer
    sandbox = conn.context == components.CONTEXT
    answer.update(
        connected=True,
        source="sandbox" if sandbox else "kubeconfig",
        context=conn.context,
        server=conn.server,
        version=version,
        offer_sandbox=False,
    )
    return answer


def _said(exc: KubeFoundryError) -> str:
    return f"{exc.message} {exc.hint}" if exc.hint else exc.message


class _Reachability:
    """Whether the connection's server answers, asked at most every ``PROBE_TTL_S``: a page
    shows it on every view, and a server that does not answer takes seconds to say so."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: tuple[connecting.Connection, float, str | None, str | None] | None = None

    def check(self, conn: connecting.Connection) -> tuple[str | None, str | None]:
        """The server's version, or why it cannot be reached (with the fix)."""
        with self._lock:
            last = self._last
            if last is None or last[0] is not conn or time.monotonic() - last[1] > PROBE_TTL_S:
                try:
                    version, problem = connecting.probe(conn), None
                except KubeFoundryError as exc:
                    version, problem = None, _said(exc)
                last = self._last = (conn, time.monotonic(), version, problem)
        return last[2], last[3]
