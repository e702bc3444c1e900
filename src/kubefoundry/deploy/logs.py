"""A deployment's logs, the one use case behind ``kubefoundry logs`` and
``GET /api/v1/deployments/{ns}/{name}/logs``: which pods, which container, how many lines,
several pods followed as one stream, and the words for a pod whose log cannot be read.

- **Pods**: every pod of the deployment, or the one named; a name that is not one of them
  is not found, with the deployment's pods as the hint. The caller passes the pods it has
  (the CLI lists them now, the API takes them from its watch cache), so ``choose`` is pure.
- **Container**: the one asked for, else the engine's. Every runtime renders the engine as
  the pod's first (usually only) container: ``vllm`` (vLLM, llm-d, whose routing sidecar is
  an init container), ``vllm-leader`` (LWS), ``main`` (Dynamo, LLMInferenceService),
  ``kserve-container`` (KServe), ``inference`` (TGI), ``ray-head`` and ``ray-worker``
  (KubeRay); KAITO's operator writes its pods itself. What operators and meshes inject
  (Knative's ``queue-proxy``, ``istio-proxy``) comes after it, or names the app's container
  in ``kubectl.kubernetes.io/default-container``, which is read first, as kubectl does.
- **Following**: one thread per pod (``cluster/watching.LogStream``), each line handed on
  as an ``Entry`` as it comes; ``close`` from any thread shuts every socket at once, so a
  client that went away or a Ctrl-C leaves no thread blocked in a read.
- **A pod with no log** (not started, a kwok pod, whose node has no kubelet) is not a
  failure of the whole: its ``problem`` is worded by one function and reported beside the
  other pods' lines.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal

from kubefoundry.cluster import inspecting
from kubefoundry.cluster import watching as streams
from kubefoundry.cluster.connecting import Connection
from kubefoundry.core import naming
from kubefoundry.core.errors import KubeFoundryError, NotFoundError
from kubefoundry.deploy import deploying

LINES = 100  # the tail of each pod's log when the caller names no number
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"


@dataclasses.dataclass(frozen=True)
class Source:
    """One pod's log to read: the pod, and the container (None: the pod's only one)."""

    pod: str
    container: str | None = None


@dataclasses.dataclass(frozen=True)
class Tails:
    """The last lines of each pod's log, and why a pod's could not be read."""

    lines: dict[str, list[str]]
    problems: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Entry:
    """What one followed pod said: a ``line``, the ``end`` of its log, or a ``problem`` (its
    log could not be read or broke off; it ends that pod's stream too)."""

    pod: str
    kind: Literal["line", "problem", "end"]
    text: str = ""


def choose(
    pods: Sequence[Mapping[str, Any]],
    *,
    deployment: str,
    pod: str | None = None,
    container: str | None = None,
) -> list[Source]:
    """The logs to read from ``pods`` (the deployment's): all of them, or ``pod`` alone;
    ``container`` in each, else the engine's."""
    names = [str(p["metadata"]["name"]) for p in pods]
    if pod is not None and pod not in names:
        raise NotFoundError(
            kind="pod",
            name=pod,
            suggestions=naming.suggest(pod, names),
            hint=f"Deployment {deployment} has "
            + (f"these pods: {', '.join(names)}." if names else "no pods yet."),
        )
    return [
        Source(pod=str(p["metadata"]["name"]), container=container or engine_container(p))
        for p in pods
        if pod is None or p["metadata"]["name"] == pod
    ]


def engine_container(pod: Mapping[str, Any]) -> str | None:
    """The container whose log is the engine's: the one the default-container annotation
    names, else the first (None for a pod that lists none: the API server decides)."""
    names = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
    named = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER)
    if named in names:
        return str(named)
    return names[0] if names else None


def problem(pod: str, exc: KubeFoundryError) -> str:
    """Why ``pod``'s log could not be read, in the words every surface shows."""
    return f"No logs from pod {pod}: {exc.message}" + (f" {exc.hint}" if exc.hint else "")


def sources(
    conn: Connection,
    *,
    name: str,
    namespace: str,
    pod: str | None = None,
    container: str | None = None,
) -> list[Source]:
    """``choose`` over deployment ``name``'s pods as the cluster has them now; the
    deployment not found (with close matches) if it does not exist."""
    deploying.find(conn, name=name, namespace=namespace)
    found = inspecting.pods(conn, name=name, namespace=namespace)
    return choose(found, deployment=name, pod=pod, container=container)


def tails(
    conn: Connection, chosen: Sequence[Source], *, namespace: str, lines: int = LINES
) -> Tails:
    """The last ``lines`` of each chosen log; a pod whose log cannot be read gets no lines
    and a problem."""
    read: dict[str, list[str]] = {}
    problems: dict[str, str] = {}
    for source in chosen:
        stream = streams.LogStream(
            conn, pod=source.pod, namespace=namespace, container=source.container
        )
        try:
            read[source.pod] = stream.tail(lines)
        except KubeFoundryError as exc:
            read[source.pod], problems[source.pod] = [], problem(source.pod, exc)
    return Tails(lines=read, problems=problems)


class Following:
    """The chosen logs followed together, from the last ``lines`` of each on.

    ``start(deliver)`` runs one daemon thread per pod, each calling ``deliver`` on its own
    thread with every ``Entry`` of its pod, the last being ``end`` or ``problem``; an async
    caller hands them to its event loop. Iterating delivers into a queue and yields every
    entry until each pod has ended. ``close`` (any thread, or leaving ``with``) stops it.
    """

    def __init__(
        self, conn: Connection, chosen: Sequence[Source], *, namespace: str, lines: int = LINES
    ) -> None:
        self._lines = lines
        self._streams = [
            (s.pod, streams.LogStream(conn, pod=s.pod, namespace=namespace, container=s.container))
            for s in chosen
        ]

    @property
    def pods(self) -> list[str]:
        return [pod for pod, _ in self._streams]

    def start(self, deliver: Callable[[Entry], None]) -> Following:
        for pod, stream in self._streams:
            threading.Thread(
                target=self._pump, args=(pod, stream, deliver), name=f"logs-{pod}", daemon=True
            ).start()
        return self

    def __iter__(self) -> Iterator[Entry]:
        entries: queue.Queue[Entry] = queue.Queue()
        self.start(entries.put)
        left = len(self._streams)
        try:
            while left:
                entry = entries.get()
                left -= entry.kind != "line"
                yield entry
        finally:
            self.close()

    def close(self) -> None:
        for _, stream in self._streams:
            stream.close()

    def __enter__(self) -> Following:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _pump(self, pod: str, stream: streams.LogStream, deliver: Callable[[Entry], None]) -> None:
        try:
            for line in stream.lines(tail=self._lines):
                deliver(Entry(pod, "line", line))
        except KubeFoundryError as exc:
            deliver(Entry(pod, "problem", problem(pod, exc)))
            return
        deliver(Entry(pod, "end"))
