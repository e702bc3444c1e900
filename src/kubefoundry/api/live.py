"""A deployment's live figures and its model, over HTTP: what ``kubefoundry top`` and
``kubefoundry chat`` show, for the web UI and any client.

- ``GET /deployments/{ns}/{name}/metrics``: one refresh of its pods' metrics
  (``deploy/monitoring``), and its history: an hour from the Prometheus its ScaledObject
  queries (range queries, ``metrics/promql``) where it has one that answers, else the
  readings this server has kept of it (one per refresh, in this process: the same history
  ``top --watch`` keeps), with why Prometheus was not used.
- ``GET /metrics``: every deployment's cost figures in Prometheus' text format (one refresh
  of all of them, ``monitoring.exposition``), for a Prometheus to scrape with a token.
- ``POST /deployments/{ns}/{name}/chat``: one chat completion, streamed as server-sent
  events: ``endpoint`` (the pod and model), ``delta`` per piece of text, ``stats`` (TTFT,
  tokens, decode rate), or ``error`` with the message and no traceback.

Both act as the request's user (the connection ``deps`` gives): the pod proxy needs the
``pods/proxy`` right, and a user without it is told so.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from kubefoundry.api import deps, sse
from kubefoundry.api.errors import RESPONSES as ERRORS
from kubefoundry.cluster.connecting import Connection
from kubefoundry.core.errors import KubeFoundryError
from kubefoundry.metrics import history


class MetricsBody(BaseModel):
    now: dict[str, Any] = Field(description="This refresh: `kubefoundry top -o json`'s row.")
    history: list[dict[str, Any]] = Field(
        description="Its readings, oldest first (rates per second, seconds)."
    )
    history_source: str = Field(
        description="Where the history comes from: `prometheus <url>` or `kept` (this "
        "server's own refreshes)."
    )
    history_problem: str | None = Field(
        None, description="Why the deployment's Prometheus was not used, where it has one."
    )
    since_start: dict[str, Any] | None = Field(
        None,
        description="From its Prometheus: hours since it was made, replica-hours that ran, "
        "spent_usd and saved_usd (the plan's replicas all along, less those).",
    )


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: Annotated[str, Field(max_length=100_000)]


class ChatBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    messages: Annotated[list[Message], Field(min_length=1, max_length=64)]
    max_tokens: Annotated[int, Field(ge=1, le=32768)] = 256


@dataclasses.dataclass
class _Kept:
    """The server's history of readings, one per deployment, shared by every request; one
    refresh of a deployment at a time (its readings are one sequence), others in parallel."""

    histories: history.Histories = dataclasses.field(default_factory=history.Histories)
    locks: dict[str, threading.Lock] = dataclasses.field(default_factory=dict)
    guard: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def lock(self, key: str) -> threading.Lock:
        with self.guard:
            return self.locks.setdefault(key, threading.Lock())


def _kept(app: FastAPI) -> _Kept:
    kept = getattr(app.state, "live_metrics", None)
    if kept is None:
        kept = app.state.live_metrics = _Kept()
    return kept


def router() -> APIRouter:
    router = APIRouter(tags=["deployments"])

    @router.get(
        "/deployments/{namespace}/{name}/metrics", response_model=MetricsBody, responses=ERRORS
    )
    def deployment_metrics(
        request: Request, namespace: str, name: str, conn: deps.Cluster
    ) -> dict[str, Any]:
        """Its model servers' figures now (running, waiting, tokens/s, TTFT and inter-token
        percentiles, KV usage, $/h) and the readings kept since this server first looked."""
        from kubefoundry.core import identity
        from kubefoundry.deploy import deploying, monitoring

        root = deploying.find(conn, name=name, namespace=namespace)  # unknown: 404
        kept, key = _kept(request.app), f"{namespace}/{name}"
        with kept.lock(key):
            monitor = monitoring.Monitor(conn, histories=kept.histories)
            seen = monitor.refresh(namespace=namespace, names=[name])
            past = kept.histories.readings(key)
        now = (
            monitoring.to_dict(seen[0])
            if seen
            else {"namespace": namespace, "name": name, "pods": 0, "problems": {}}
        )
        body: dict[str, Any] = {
            "now": now,
            "history": [monitoring.reading_dict(r) for r in past],
            "history_source": "kept",
            "history_problem": None,
        }
        found, problem = monitoring.scalers_history(conn, namespace=namespace, name=name)
        age = monitoring.age_s(root)
        if found is not None:
            body["history"] = found.points
            body["history_source"] = f"prometheus {found.url}"
            if age:
                try:
                    since = monitoring.since_start(
                        conn,
                        found.url,
                        namespace=namespace,
                        name=name,
                        seconds=age,
                        plan=identity.summary_of(root),
                    )
                except KubeFoundryError as err:
                    problem = err.message
                else:
                    body["since_start"] = since.to_dict()
        body["history_problem"] = problem
        return body

    @router.get(
        "/metrics",
        responses={**ERRORS, 200: {"content": {"text/plain": {}}}},
        response_class=Response,
    )
    def cost_metrics(request: Request, conn: deps.Cluster, namespace: str | None = None) -> Any:
        """Every deployment's cost now (in ``namespace``, or all the caller may list) as
        Prometheus gauges: $/h, the plan's $/h, GPUs and busy GPUs, output tokens/s, $ per
        1M output tokens measured and planned. A scrape refreshes them."""
        from prometheus_client import CONTENT_TYPE_LATEST

        from kubefoundry.deploy import monitoring

        kept = _kept(request.app)
        with kept.lock("*"):  # one export at a time; the page's refreshes go on
            seen = monitoring.Monitor(conn, histories=kept.histories).refresh(namespace=namespace)
        return Response(monitoring.exposition(seen), media_type=CONTENT_TYPE_LATEST)

    @router.post(
        "/deployments/{namespace}/{name}/chat",
        responses={**ERRORS, 200: {"content": {sse.MEDIA_TYPE: {}}}},
    )
    async def deployment_chat(namespace: str, name: str, body: ChatBody, conn: deps.Cluster) -> Any:
        """Ask its model: the answer streamed as server-sent events (``endpoint``, ``delta``
        per piece of text, then ``stats``; ``error`` if it failed)."""
        from kubefoundry.deploy import deploying, inference

        def where() -> inference.Endpoint:
            deploying.find(conn, name=name, namespace=namespace)
            return inference.endpoint(conn, name=name, namespace=namespace)

        endpoint = await run_in_threadpool(where)  # errors here answer as the API's errors
        messages = [m.model_dump() for m in body.messages]
        return sse.response(_chat_frames(conn, endpoint, messages, body.max_tokens))

    return router


async def _chat_frames(
    conn: Connection, endpoint: Any, messages: list[dict[str, str]], max_tokens: int
) -> AsyncIterator[str]:
    """The completion's pieces, from the thread that reads the pod into this loop."""
    from kubefoundry.deploy import inference

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def read() -> None:  # on a worker thread: the pod proxy's stream blocks
        def put(kind: str, value: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody listens
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

        try:
            for item in inference.chat(conn, endpoint, messages, max_tokens=max_tokens):
                put("item", item)
        except KubeFoundryError as err:
            put("error", err.message)
        finally:
            put("end", None)

    threading.Thread(target=read, daemon=True).start()
    yield sse.event(
        "endpoint", {"pod": endpoint.pod, "port": endpoint.port, "model": endpoint.model}
    )
    while True:
        kind, value = await queue.get()
        if kind == "end":
            return
        if kind == "error":
            yield sse.event("error", {"message": value})
        elif isinstance(value, inference.Delta):
            yield sse.event("delta", {"text": value.text})
        else:
            stats = dataclasses.asdict(value)
            stats["decode_tokens_per_s"] = value.decode_tokens_per_s
            yield sse.event("stats", stats)
