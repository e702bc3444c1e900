"""The reflector's bookkeeping against recorded answers (a fake ``Source``, named as such):
re-list on 410 whether the server says it on the request or in the stream, resume from the
last version (a bookmark's included) when a stream simply ends, back off and resume after a
dropped connection, hidden kinds, a prompt stop. The same paths against the real API server
(a 410 after etcd compacted the version) are in tests/integration/test_watching.py."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from kubefoundry.cluster import watching
from kubefoundry.core.errors import RetryableError

DEPLOYMENTS = watching.Resource("apps/v1", "Deployment", "deployments")
QUICK = watching.Backoff(first_s=0.01, max_s=0.02)


def obj(name: str, version: str, namespace: str = "ns") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "resourceVersion": version}}


def event(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "object": body}


GONE = event("ERROR", {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"})


class LiveStream:
    """A stream that gives what the test puts, and blocks like an idle watch until closed."""

    def __init__(self, events: Sequence[dict[str, Any]] = (), *, ends: bool = False) -> None:
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        for e in events:
            self._queue.put(e)
        if ends:
            self._queue.put(None)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while (item := self._queue.get()) is not None:
            yield item

    def close(self) -> None:
        self._queue.put(None)


class RecordedSource:
    """Answers in the order recorded: each ``list`` and each ``watch`` takes the next of its
    own script (a callable raises, a value is returned); what was asked is kept."""

    def __init__(self, lists: Sequence[Any], watches: Sequence[Any]) -> None:
        self.resource = DEPLOYMENTS
        self._lists, self._watches = list(lists), list(watches)
        self.listed = 0
        self.watched_from: list[str] = []

    def list_objects(self) -> tuple[list[dict[str, Any]], str]:
        self.listed += 1
        answer = self._lists.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        items, version = answer
        return list(items), str(version)

    def watch(self, version: str, *, timeout_s: int) -> watching.Stream:
        self.watched_from.append(version)
        answer = self._watches.pop(0) if self._watches else LiveStream()
        if isinstance(answer, BaseException):
            raise answer
        stream: watching.Stream = answer
        return stream


def run(source: RecordedSource, **options: Any) -> tuple[watching.Reflector, list[tuple]]:
    seen: list[tuple] = []

    def heard(_: watching.Reflector, changes: Sequence[watching.Change]) -> None:
        seen.extend((c.type, c.object["metadata"]["name"]) for c in changes)

    reflector = watching.Reflector(source, on_change=heard, backoff=QUICK, **options)
    return reflector.start(), seen


def eventually(check: Callable[[], bool], *, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


@pytest.mark.parametrize(
    "expiry",
    [
        pytest.param(LiveStream([event("MODIFIED", obj("a", "11")), GONE]), id="error-event"),
        pytest.param(watching.ExpiredError("410 Gone"), id="http-410"),
    ],
)
def test_a_410_lists_again_and_reports_what_changed_meanwhile(expiry: Any) -> None:
    source = RecordedSource(
        lists=[([obj("a", "10"), obj("b", "10")], "10"), ([obj("a", "19"), obj("c", "20")], "20")],
        watches=[expiry, LiveStream()],
    )
    reflector, seen = run(source)
    try:
        eventually(lambda: source.listed == 2 and len(source.watched_from) == 2)
        eventually(lambda: reflector.relists == 1)
        assert source.watched_from == ["10", "20"]  # the second watch starts from the new list
        assert sorted(o["metadata"]["name"] for o in reflector.items()) == ["a", "c"]
        assert reflector.get(("ns", "a"))["metadata"]["resourceVersion"] == "19"
        # b went while the watch was away: the re-list says so, as the stream would have.
        assert ("DELETED", "b") in seen
        assert ("ADDED", "c") in seen
        assert ("MODIFIED", "a") in seen
        assert reflector.state is watching.State.SYNCED
    finally:
        reflector.stop()


def test_a_stream_that_ends_resumes_from_the_last_version_without_listing() -> None:
    bookmark = event("BOOKMARK", {"metadata": {"resourceVersion": "15"}})
    source = RecordedSource(
        lists=[([obj("a", "10")], "10")],
        watches=[
            LiveStream([event("ADDED", obj("b", "12")), bookmark], ends=True),
            LiveStream([event("DELETED", obj("a", "16"))], ends=True),
            LiveStream(),
        ],
    )
    reflector, seen = run(source)
    try:
        eventually(lambda: len(source.watched_from) == 3)
        assert source.watched_from == ["10", "15", "16"]
        assert source.listed == 1
        assert reflector.relists == 0
        assert [o["metadata"]["name"] for o in reflector.items()] == ["b"]
        assert seen == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]
    finally:
        reflector.stop()


def test_a_dropped_connection_is_retried_from_the_same_version() -> None:
    unreachable = RetryableError("Cannot reach the Kubernetes API server.", delay_s=1)
    source = RecordedSource(
        lists=[([obj("a", "10")], "10")], watches=[unreachable, unreachable, LiveStream()]
    )
    reflector, _ = run(source)
    try:
        eventually(lambda: len(source.watched_from) == 3)
        assert source.watched_from == ["10", "10", "10"]
        assert source.listed == 1
        eventually(lambda: reflector.error == "Cannot reach the Kubernetes API server.")
        assert len(reflector.items()) == 1  # the last state seen stays readable meanwhile
    finally:
        reflector.stop()


def test_a_stream_error_other_than_410_resumes_without_listing() -> None:
    failed = event("ERROR", {"code": 500, "reason": "InternalError", "message": "etcd busy"})
    source = RecordedSource(
        lists=[([obj("a", "10")], "10")],
        watches=[LiveStream([event("ADDED", obj("b", "11")), failed]), LiveStream()],
    )
    reflector, _ = run(source)
    try:
        eventually(lambda: len(source.watched_from) == 2)
        assert source.watched_from == ["10", "11"]
        assert source.listed == 1
    finally:
        reflector.stop()


@pytest.mark.parametrize(
    ("refusal", "state"),
    [
        (watching.ForbiddenKindError("may not list"), watching.State.FORBIDDEN),
        (watching.NotServedError("no such kind"), watching.State.NOT_SERVED),
    ],
)
def test_a_kind_that_cannot_be_listed_is_hidden_not_failed(
    refusal: Exception, state: watching.State
) -> None:
    source = RecordedSource(lists=[refusal, ([obj("a", "5")], "5")], watches=[])
    reflector, seen = run(source, recheck_s=0.5)
    try:
        assert reflector.wait_settled(5.0)  # hidden counts as known: nobody waits for it
        assert reflector.state is state
        assert reflector.items() == []
        # Looked at again: RBAC granted / the CRD installed, and the objects come in.
        eventually(lambda: reflector.state is watching.State.SYNCED)
        assert seen == [("ADDED", "a")]
        assert state.is_hidden
    finally:
        reflector.stop()


def test_stop_ends_an_idle_watch_at_once() -> None:
    source = RecordedSource(lists=[([], "1")], watches=[LiveStream()])
    reflector, _ = run(source)
    eventually(lambda: source.watched_from == ["1"])
    began = time.monotonic()
    reflector.stop()
    assert time.monotonic() - began < 1.0
    assert not reflector.alive
    assert reflector.state is watching.State.STOPPED


def test_a_listener_that_fails_does_not_stop_the_stream() -> None:
    calls = threading.Event()

    def broken(_: watching.Reflector, __: Sequence[watching.Change]) -> None:
        calls.set()
        raise RuntimeError("a subscriber's bug")

    stream = LiveStream()
    source = RecordedSource(lists=[([obj("a", "1")], "1")], watches=[stream])
    reflector = watching.Reflector(source, on_change=broken, backoff=QUICK).start()
    try:
        assert calls.wait(5.0)
        stream._queue.put(event("ADDED", obj("b", "2")))
        eventually(lambda: reflector.get(("ns", "b")) is not None)
        assert reflector.state is watching.State.SYNCED
    finally:
        reflector.stop()


@pytest.mark.parametrize(
    ("resource", "namespace", "path"),
    [
        (watching.Resource("v1", "Pod", "pods"), None, "/api/v1/pods"),
        (watching.Resource("v1", "Event", "events"), "ns", "/api/v1/namespaces/ns/events"),
        (DEPLOYMENTS, None, "/apis/apps/v1/deployments"),
        (DEPLOYMENTS, "a", "/apis/apps/v1/namespaces/a/deployments"),
    ],
)
def test_resource_paths(resource: watching.Resource, namespace: str | None, path: str) -> None:
    assert resource.path(namespace) == path
