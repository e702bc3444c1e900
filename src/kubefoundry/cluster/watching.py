"""Follow one kind of object through the API server's watch stream, as client-go's
informers do, so a view of many objects costs one open stream per kind instead of a request
per object per poll.

A ``Reflector`` lists once (remembering the list's ``resourceVersion``), then watches from
that version with bookmarks, keeping a store keyed by (namespace, name) equal to the
cluster's objects:

- a stream the server ends (its ``timeoutSeconds``) resumes from the last version seen, an
  object's or a bookmark's: nothing is listed again;
- a version the server no longer has (410 Gone, "too old resource version": etcd compacted
  it) is answered by listing again; the store is replaced and the difference reported as
  changes, so a deletion that happened meanwhile still reaches the subscribers;
- a dropped connection or a 5xx is tried again with capped exponential back-off, from the
  same version;
- a kind the user may not list or watch (403) or that the cluster does not serve (its CRD
  is not installed: 404) is not an error: the reflector says so (``State.FORBIDDEN`` or
  ``State.NOT_SERVED``), holds nothing and looks again now and then, since RBAC and
  operators change while a server runs;
- ``stop`` shuts the open stream's socket, so the thread ends at once, not at the server's
  next timeout.

One thread per kind. ``on_change`` hears every change in batches (a re-list is one batch),
on the reflector's thread; it must be quick and must not call back into the reflector's
writer side. The HTTP side sits behind ``Source`` so the re-list logic can be shown against
a recorded sequence of answers as well as against the real server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import logging
import random
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import urllib3
from kubernetes.client.exceptions import ApiException

from kubefoundry.cluster import errors, transport
from kubefoundry.cluster.connecting import Connection
from kubefoundry.core.errors import KubeFoundryError, PermanentError

logger = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects
Object = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Resource:
    """A kind as the REST paths name it: enough to list and watch it without discovery."""

    api_version: str
    kind: str
    plural: str

    def path(self, namespace: str | None) -> str:
        base = (
            f"/apis/{self.api_version}" if "/" in self.api_version else f"/api/{self.api_version}"
        )
        where = f"/namespaces/{namespace}" if namespace else ""
        return f"{base}{where}/{self.plural}"


class State(enum.Enum):
    STARTING = "starting"  # not listed yet
    SYNCED = "synced"  # listed, watching
    RETRYING = "retrying"  # the stream broke; the store holds the last state seen
    FORBIDDEN = "forbidden"  # RBAC refuses list or watch: the store is empty
    NOT_SERVED = "not_served"  # the cluster has no such kind (CRD absent)
    STOPPED = "stopped"

    @property
    def is_hidden(self) -> bool:
        return self in (State.FORBIDDEN, State.NOT_SERVED)


@dataclasses.dataclass(frozen=True)
class Change:
    type: str  # ADDED, MODIFIED or DELETED
    object: Object


class ExpiredError(Exception):
    """410 Gone: the version to watch from is older than the server keeps; list again."""


class HiddenError(Exception):
    """The kind cannot be followed here; ``state`` says why (not an error to report)."""

    state = State.FORBIDDEN


class ForbiddenKindError(HiddenError):
    """403: the user may not list or watch this kind (where it was asked)."""


class NotServedError(HiddenError):
    """404 on the collection: no such kind in this cluster (its CRD is not installed)."""

    state = State.NOT_SERVED


class StreamError(Exception):
    """The server ended a watch with an error other than 410; resume after a pause."""


class Stream(Protocol):
    """Watch events as decoded JSON objects; ``close`` may be called from any thread."""

    def __iter__(self) -> Iterator[Object]: ...

    def close(self) -> None: ...


class Source(Protocol):
    """Where a reflector's answers come from: the API server (``ApiSource``) or, in the
    unit tests, a recorded sequence."""

    resource: Resource

    def list_objects(self) -> tuple[list[Object], str]:
        """Every object and the collection's resourceVersion."""
        ...

    def watch(self, version: str, *, timeout_s: int) -> Stream: ...


@dataclasses.dataclass(frozen=True)
class Backoff:
    first_s: float = 0.5
    max_s: float = 30.0

    def delay(self, failures: int) -> float:
        return float(min(self.max_s, self.first_s * 2 ** max(0, failures - 1)))


class Reflector:
    """One kind's store, kept equal to the cluster's by list-then-watch (see the module)."""

    def __init__(
        self,
        source: Source,
        *,
        on_change: Callable[[Reflector, Sequence[Change]], None] | None = None,
        backoff: Backoff = Backoff(),
        recheck_s: float = 60.0,
        watch_timeout_s: tuple[int, int] = (240, 480),
    ) -> None:
        self.source = source
        self.resource = source.resource
        self._on_change = on_change
        self._backoff = backoff
        self._recheck_s = recheck_s
        self._watch_timeout_s = watch_timeout_s
        self._store: dict[Key, Object] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._settled = threading.Event()  # listed once, or found hidden
        self._stream: Stream | None = None
        self._thread: threading.Thread | None = None
        self.state = State.STARTING
        self.version: str | None = None
        self.error: str | None = None  # why the last attempt failed, for messages
        self.relists = 0  # lists after the first: a 410, a kind that came back

    # -- reading ------------------------------------------------------------------------
    def items(self) -> list[Object]:
        with self._lock:
            return list(self._store.values())

    def get(self, key: Key) -> Object | None:
        with self._lock:
            return self._store.get(key)

    def wait_settled(self, timeout_s: float) -> bool:
        """Whether the first list is done (or the kind found hidden) within ``timeout_s``."""
        return self._settled.wait(timeout_s)

    # -- life -----------------------------------------------------------------------------
    def start(self) -> Reflector:
        name = f"watch-{self.resource.kind}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stopping.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                if self.version is None:
                    self._relist()
                self._follow()
                failures = 0
            except ExpiredError as exc:
                logger.info("%s: %s; listing again", self.resource.kind, exc)
                self.version = None
            except (ForbiddenKindError, NotServedError) as exc:
                self._hide(
                    State.FORBIDDEN if isinstance(exc, ForbiddenKindError) else State.NOT_SERVED
                )
                self.error = str(exc)
                self._stopping.wait(self._recheck_s)
            except Exception as exc:  # the thread must outlive any one failure
                if self._stopping.is_set():
                    break
                failures += 1
                self.error = _describe(exc)
                self._set_state(State.RETRYING if self._settled.is_set() else State.STARTING)
                delay = self._backoff.delay(failures)
                log = logger.warning if failures == 1 else logger.debug
                log(
                    "watching %s failed (%s); again in %.1fs", self.resource.kind, self.error, delay
                )
                self._stopping.wait(delay)
        self._set_state(State.STOPPED)

    def _relist(self) -> None:
        items, version = self.source.list_objects()
        fresh = {_key(o): o for o in items}
        with self._lock:
            old, self._store = self._store, fresh
            if self._settled.is_set() and self.state is not State.STARTING:
                self.relists += 1
        self.version = version
        self.error = None
        self._set_state(State.SYNCED, _difference(old, fresh))
        self._settled.set()

    def _follow(self) -> None:
        low, high = self._watch_timeout_s
        stream = self.source.watch(str(self.version), timeout_s=random.randint(low, high))
        with self._lock:
            self._stream = stream
        try:
            if self._stopping.is_set():  # stop() ran before the stream was known
                return
            for event in stream:
                self._apply(event)
                if self._stopping.is_set():
                    return
        finally:
            with self._lock:
                self._stream = None
            stream.close()

    def _apply(self, event: Object) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            code = obj.get("code")
            text = f"{code} {obj.get('reason', '')}: {obj.get('message', '')}"
            raise ExpiredError(text) if code == 410 else StreamError(text)
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if kind == "BOOKMARK":
            self.version = version or self.version
            return
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            return
        key = _key(obj)
        with self._lock:
            if kind == "DELETED":
                self._store.pop(key, None)
            else:
                self._store[key] = obj
        self.version = version or self.version
        self._set_state(State.SYNCED, [Change(str(kind), obj)])

    def _hide(self, state: State) -> None:
        with self._lock:
            old, self._store = self._store, {}
        self.version = None
        self._set_state(state, _difference(old, {}))
        self._settled.set()

    def _set_state(self, state: State, changes: Sequence[Change] = ()) -> None:
        """Record ``state``; tell the listener of the changes, or of the new state alone
        (with no changes: subscribers may show what is hidden or stale)."""
        moved, self.state = self.state is not state, state
        if changes or (moved and state is not State.STOPPED):
            self._notify(changes)

    def _notify(self, changes: Sequence[Change]) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(self, changes)
        except Exception:  # a subscriber's bug must not stop the stream
            logger.exception("a listener of %s failed", self.resource.kind)


def _key(obj: Object) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name", "")))


def _difference(old: dict[Key, Object], new: dict[Key, Object]) -> list[Change]:
    """What a re-list changed, as the watch would have said it."""
    out = [Change("DELETED", o) for k, o in old.items() if k not in new]
    for key, obj in new.items():
        before = old.get(key)
        if before is None:
            out.append(Change("ADDED", obj))
        elif _version(before) != _version(obj):
            out.append(Change("MODIFIED", obj))
    return out


def _version(obj: Object) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KubeFoundryError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


# -- the API server as a Source ------------------------------------------------------------


class ApiSource:
    """List and watch ``resource`` on the API server, in one namespace or all (``None``),
    through the connection's client (its TLS, credentials and connect timeout).

    Objects lose their ``managedFields`` on the way in: nobody reads them from the store, and
    they are often half of an object's size.
    """

    PAGE = 500

    def __init__(
        self,
        conn: Connection,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> None:
        self.resource = resource
        self._conn = conn
        self._namespace = namespace
        self._selectors = [("labelSelector", label_selector), ("fieldSelector", field_selector)]

    def list_objects(self) -> tuple[list[Object], str]:
        items: list[Object] = []
        follow: str | None = None
        while True:
            query = [("limit", self.PAGE), *([("continue", follow)] if follow else [])]
            response = self._get(query, timeout=(self._conn.api.connect_timeout_s, 60.0))
            body = json.loads(response.data or b"{}")
            for obj in body.get("items") or []:
                obj.setdefault("apiVersion", self.resource.api_version)
                obj.setdefault("kind", self.resource.kind)
                items.append(_trim(obj))
            meta = body.get("metadata") or {}
            follow = meta.get("continue")
            if not follow:
                return items, str(meta.get("resourceVersion", ""))

    def watch(self, version: str, *, timeout_s: int) -> Stream:
        query = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", version),
            ("timeoutSeconds", timeout_s),
        ]
        # No byte for well past the server's own timeout: the connection died silently.
        read_s = float(timeout_s + 30)
        response = self._get(query, timeout=(self._conn.api.connect_timeout_s, read_s))
        return _ResponseStream(response, self._conn.endpoint)

    def _get(self, query: list[tuple[str, Any]], *, timeout: tuple[float, float]) -> Any:
        api = self._conn.api
        params = [*query, *((k, v) for k, v in self._selectors if v)]
        path = self.resource.path(self._namespace)
        method, url, headers, _, _ = api.param_serialize(
            "GET",
            path,
            query_params=params,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        try:
            answer = api.call_api(method, url, headers, _request_timeout=timeout)
            if not 200 <= answer.status <= 299:
                answer.read()
                api.response_deserialize(answer, {})  # raises the ApiException
        except ApiException as exc:
            raise self._refused(exc) from None
        return answer.response

    def _refused(self, exc: ApiException) -> Exception:
        where = f" in namespace {self._namespace}" if self._namespace else ""
        kind = self.resource.kind
        if exc.status == 410:
            return ExpiredError(f"410 Gone listing {kind}{where}")
        if exc.status == 403:
            return ForbiddenKindError(f"may not list/watch {kind}{where}")
        if exc.status == 404:
            return NotServedError(f"the cluster does not serve {self.resource.api_version} {kind}")
        return errors.translate(exc, verb="watch", kind=kind, namespace=self._namespace)


class _ResponseStream:
    """The lines of a watch response, decoded; ``close`` from another thread shuts the
    socket so a read blocked in it returns."""

    def __init__(self, response: Any, endpoint: transport.Endpoint) -> None:
        self._response = response
        self._endpoint = endpoint
        self._closed = False

    def __iter__(self) -> Iterator[Object]:
        try:
            for line in self._response:
                if self._closed:
                    return
                if line.strip():
                    event: Object = json.loads(line)
                    if isinstance(event.get("object"), dict):
                        _trim(event["object"])
                    yield event
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if self._closed:
                return
            raise transport.failure(exc, self._endpoint) from None
        except ValueError as exc:  # a line that is not JSON: the stream is broken
            if self._closed:
                return
            raise StreamError(f"unreadable watch event: {exc}") from None
        finally:  # on the reading thread, as the official client's Watch does
            self._response.close()
            self._response.release_conn()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):  # already closed, or a socket that is gone
            self._response.shutdown()  # unblocks a read on another thread


def _trim(obj: Object) -> Object:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


class LogStream:
    """One pod's log: its last lines (``tail``), or followed as they come (``lines``), which
    ``close`` (from any thread) ends at once by shutting the socket, so a client that went
    away never leaves a thread blocked in a read.

    Errors are translated: a pod not started yet, a container name needed, or a node with no
    kubelet to ask (kwok's fake nodes: the API server answers 500) each say so.
    """

    def __init__(
        self, conn: Connection, *, pod: str, namespace: str, container: str | None = None
    ) -> None:
        self._conn, self.pod, self.namespace, self.container = conn, pod, namespace, container
        self._closed = threading.Event()
        self._response: Any = None
        self._lock = threading.Lock()

    def tail(self, lines: int) -> list[str]:
        response = self._get(lines, follow=False)
        try:
            return bytes(response.data or b"").decode("utf-8", "replace").splitlines()
        finally:
            response.release_conn()

    def lines(self, *, tail: int) -> Iterator[str]:
        response = self._get(tail, follow=True)
        with self._lock:
            self._response = response
        if self._closed.is_set():
            self.close()
        try:
            for raw in response:
                if self._closed.is_set():
                    return
                yield bytes(raw).decode("utf-8", "replace").rstrip("\n")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if not self._closed.is_set():
                raise transport.failure(exc, self._conn.endpoint) from None
        finally:
            response.close()
            response.release_conn()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            response = self._response
        if response is not None:
            with contextlib.suppress(Exception):
                response.shutdown()

    def _get(self, tail: int, *, follow: bool) -> Any:
        api = self._conn.api
        query: list[tuple[str, Any]] = [("tailLines", tail), ("follow", str(follow).lower())]
        if self.container:
            query.append(("container", self.container))
        path = f"/api/v1/namespaces/{self.namespace}/pods/{self.pod}/log"
        method, url, headers, _, _ = api.param_serialize(
            "GET", path, query_params=query, header_params={"Accept": "*/*"},
            auth_settings=["BearerToken"],
        )  # fmt: skip
        try:
            wait = transport.NO_READ_TIMEOUT if follow else None  # a quiet engine: no bytes
            answer = api.call_api(method, url, headers, _request_timeout=wait)
            if not 200 <= answer.status <= 299:
                answer.read()
                api.response_deserialize(answer, {})
        except ApiException as exc:
            if (exc.status or 0) >= 500:  # the API server asks the node's kubelet for logs
                detail = errors.translate(exc, verb="get", kind="pods/log").message
                raise PermanentError(
                    f"The API server could not fetch the log of pod {self.pod} from its node "
                    f"({detail})",
                    hint="The node's kubelet did not answer; the sandbox's kwok nodes have "
                    "none, so their pods have no logs.",
                ) from None
            raise errors.translate(
                exc, verb="get", kind="pods/log", name=self.pod, namespace=self.namespace
            ) from None
        return answer.response
