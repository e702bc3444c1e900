"""Talk to a deployment's model: the use case behind ``kubefoundry chat`` (and the
playground).

- **Where**: a running pod of the deployment that answers the OpenAI API. Serving pods first
  (not the endpoint picker or Ray's head), each pod's ports as ``top`` orders them but the
  metrics one; the first whose ``GET /v1/models`` lists a model is used, through the API
  server's pod proxy (``cluster/proxying``).
- **What**: ``POST /v1/chat/completions`` with ``stream: true`` and the usage asked for; the
  server-sent events become :class:`Delta` texts as they arrive, then one :class:`Stats`:
  time to first token, output tokens (the server's count, else the chunks'), and the decode
  rate after the first token.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from kubefoundry.cluster import inspecting, proxying
from kubefoundry.cluster.connecting import Connection
from kubefoundry.core import identity
from kubefoundry.core.errors import KubeFoundryError, PermanentError
from kubefoundry.deploy import monitoring

MAX_TOKENS = 256


@dataclasses.dataclass(frozen=True)
class Endpoint:
    namespace: str
    pod: str
    port: int
    model: str  # the name the server serves the model under


@dataclasses.dataclass(frozen=True)
class Delta:
    text: str


@dataclasses.dataclass(frozen=True)
class Stats:
    ttft_s: float | None  # request sent -> first token
    output_tokens: int
    duration_s: float  # request sent -> last token
    prompt_tokens: int | None

    @property
    def decode_tokens_per_s(self) -> float | None:
        """Output tokens after the first, per second after the first (the TPOT's inverse)."""
        if self.ttft_s is None or self.output_tokens < 2 or self.duration_s <= self.ttft_s:
            return None
        return (self.output_tokens - 1) / (self.duration_s - self.ttft_s)


def endpoint(conn: Connection, *, name: str, namespace: str) -> Endpoint:
    """The pod and port of deployment ``name`` that serve the OpenAI API, and the model."""
    return endpoints(conn, name=name, namespace=namespace, first=True)[0]


def endpoints(
    conn: Connection, *, name: str, namespace: str, first: bool = False
) -> list[Endpoint]:
    """Every running pod of deployment ``name`` that serves the OpenAI API (``first``: stop
    at the first); an error naming what each pod answered when none does."""
    found: list[Endpoint] = []
    listed = inspecting.pods(conn, name=name, namespace=namespace)
    pods = [p for p in listed if monitoring.running(p)]
    pods.sort(key=lambda p: not identity.is_replica_pod(p))  # serving pods first
    tried: list[str] = []
    for pod in pods:
        pod_name = str(pod["metadata"]["name"])
        for port in monitoring.candidates(pod, without=("metrics",)):
            try:
                text = proxying.get(
                    conn, namespace=namespace, pod=pod_name, port=port, path="v1/models"
                )
                model = _first_model(text)
            except KubeFoundryError as err:
                tried.append(f"{pod_name}:{port}: {err.message.splitlines()[0]}")
                continue
            if model:
                found.append(Endpoint(namespace, pod_name, port, model))
                if first:
                    return found
                break
            tried.append(f"{pod_name}:{port}: no model in its /v1/models")
    if found:
        return found
    why = "; ".join(tried[:4]) if tried else "no pod of it is running"
    raise PermanentError(
        f"No pod of deployment {name} answers the OpenAI API ({why}).",
        hint=f"`kubefoundry status {name}` says whether it is ready; a model server answers "
        "once its model is loaded.",
    )


def chat(
    conn: Connection,
    where: Endpoint,
    messages: Sequence[dict[str, str]],
    *,
    max_tokens: int = MAX_TOKENS,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Delta | Stats]:
    """Stream one chat completion: its text as it comes, then the stats."""
    body = {
        "model": where.model,
        "messages": list(messages),
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = clock()
    first: float | None = None
    last = started
    chunks, usage = 0, dict[str, Any]()
    lines = proxying.post_lines(
        conn,
        namespace=where.namespace,
        pod=where.pod,
        port=where.port,
        path="v1/chat/completions",
        body=body,
    )
    for event in _events(lines):
        usage = event.get("usage") or usage
        for choice in event.get("choices") or ():
            text = (choice.get("delta") or {}).get("content")
            if text:
                now = clock()
                first = now if first is None else first
                last, chunks = now, chunks + 1
                yield Delta(text)
    yield Stats(
        ttft_s=None if first is None else first - started,
        output_tokens=int(usage.get("completion_tokens") or chunks),
        duration_s=last - started,
        prompt_tokens=usage.get("prompt_tokens"),
    )


def _events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Server-sent events' JSON payloads, until ``[DONE]``; an error event raises."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            event = json.loads(data)
        except ValueError:
            continue
        if isinstance(event, dict) and "error" in event:
            raise PermanentError(f"The model server said: {event['error']}")
        if isinstance(event, dict):
            yield event


def _first_model(text: str) -> str | None:
    try:
        listed = json.loads(text)
    except ValueError:
        return None
    data = listed.get("data") if isinstance(listed, dict) else None
    ids = [str(m["id"]) for m in data or () if isinstance(m, dict) and m.get("id")]
    return ids[0] if ids else None
