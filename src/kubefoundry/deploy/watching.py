"""Deployments as the API server's watch streams tell them: one live view that the list,
the status of any deployment and their changes are read from without asking the cluster.

``DeploymentCache`` keeps one reflector (``cluster/watching``) per root kind the runtimes
declare (only objects labelled as ours), one for the pods of our deployments (the deployment
label) and one for events (they carry no labels; they are matched to a deployment by the
object they are about: its root or one of its pods). A dashboard of many deployments then
costs one stream per kind, not a request per deployment every 2 s.

What is read from it is what ``deploy/listing`` and ``deploying.status`` compute from objects
read on demand: ``rows`` are ``listing.row`` of each root, ``status`` is
``deploying.progress`` of the cached root, pods and events. Log tails have no stream: they are
read on demand (``read_logs``), and only for pods that run but are not ready.

Changes reach subscribers (``subscribe``) as a wake-up: a threading event to ``wait`` on, and
an optional ``wake`` callable run on the reflector's thread, which async code turns into an
``asyncio`` event (``loop.call_soon_threadsafe``). A subscriber names what it cares about
(a namespace, a deployment) and is woken for that alone.

The cache may span every namespace (the API server's) or one deployment in one namespace
(``deploying.watch``, the CLI's ``deploy`` and ``status --watch``).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from kubefoundry.cluster import inspecting
from kubefoundry.cluster import watching as streams
from kubefoundry.cluster.connecting import Connection
from kubefoundry.core import identity
from kubefoundry.core.errors import NotFoundError, RetryableError
from kubefoundry.core.facts import ClusterFacts
from kubefoundry.deploy import deploying, events, listing, phases
from kubefoundry.runtimes import registry

Object = dict[str, Any]
Ref = tuple[str, str, str]  # apiVersion, kind, name: one root object
PODS = streams.Resource("v1", "Pod", "pods")
EVENTS = streams.Resource("v1", "Event", "events")
SYNC_TIMEOUT_S = 20.0
# Source(resource, label selector): where each reflector's answers come from.
SourceFactory = Callable[[streams.Resource, str | None], streams.Source]


@dataclasses.dataclass(frozen=True)
class Interest:
    """What a subscriber is woken for: the roots of ``namespace`` (None: every namespace),
    or, with ``deployment``, that deployment's root, pods and events."""

    namespace: str | None = None
    deployment: str | None = None


class Subscription:
    """One subscriber's wake-ups; ``close`` it (or use ``with``) to stop them."""

    def __init__(
        self, cache: DeploymentCache, interest: Interest, wake: Callable[[], None] | None
    ) -> None:
        self.interest = interest
        self._cache = cache
        self._wake = wake
        self._changed = threading.Event()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until something of interest changed (True) or ``timeout_s`` passed."""
        fired = self._changed.wait(timeout_s)
        self._changed.clear()
        return fired

    def fire(self) -> None:
        self._changed.set()
        if self._wake is not None:
            self._wake()

    def close(self) -> None:
        self._cache.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class DeploymentCache:
    """See the module. Build with ``connect`` (the API server) or with a ``SourceFactory``
    (recorded answers, in unit tests); ``start`` it, read it, ``stop`` it."""

    def __init__(
        self,
        source: SourceFactory,
        *,
        root_kinds: Sequence[streams.Resource],
        namespace: str | None = None,
        deployment: str | None = None,
        log_tail: Callable[[str, str], list[str]] | None = None,
        reflector_options: Mapping[str, Any] | None = None,
        facts: ClusterFacts | None = None,
    ) -> None:
        self.namespace, self.deployment = namespace, deployment
        self.facts = facts  # the cluster's shape: lets ``status`` call unschedulable pods stuck
        self._log_tail = log_tail
        ours = identity.managed_selector()
        only = f",{identity.deployment_selector(deployment)}" if deployment else ""
        # Ours, and the pods operators label their own way (identity.OPERATOR_POD_LABELS).
        pods = (
            identity.pod_selectors(deployment)
            if deployment
            else (identity.DEPLOYMENT, *identity.OPERATOR_POD_LABELS)
        )
        options = dict(reflector_options or {})
        self._root_reflectors = [
            streams.Reflector(source(kind, ours + only), on_change=self._roots_changed, **options)
            for kind in root_kinds
        ]
        self._pod_reflectors = [
            streams.Reflector(source(PODS, selector), on_change=self._pods_changed, **options)
            for selector in pods
        ]
        self._event_reflector = streams.Reflector(
            source(EVENTS, None), on_change=self._events_changed, **options
        )
        self._lock = threading.Lock()
        self._roots: dict[tuple[str, str], dict[Ref, tuple[Object, dict[str, Any]]]] = {}
        self._pods: dict[tuple[str, str], dict[str, Object]] = {}
        self._owner: dict[tuple[str, str], str] = {}  # (namespace, object name) → deployment
        self._events: dict[tuple[str, str], dict[str, Object]] = {}  # by involved object
        self._subscribers: set[Subscription] = set()
        self.generation = 0  # bumped on every change: a cheap "anything new?"

    @classmethod
    def connect(
        cls,
        conn: Connection,
        *,
        namespace: str | None = None,
        deployment: str | None = None,
        root_kinds: Sequence[tuple[str, str]] | None = None,
        facts: ClusterFacts | None = None,
    ) -> DeploymentCache:
        """A cache over ``conn`` (not started): every root kind the runtimes declare, or the
        ``(apiVersion, kind)`` pairs given, in ``namespace`` (None: all)."""
        declared = [
            streams.Resource(k.api_version, k.kind, k.plural)
            for k in registry.default().root_kinds()
            if root_kinds is None or k.ref in root_kinds
        ]

        def source(resource: streams.Resource, selector: str | None) -> streams.Source:
            return streams.ApiSource(conn, resource, namespace=namespace, label_selector=selector)

        def tail(pod: str, where: str) -> list[str]:
            return inspecting.log_tail(conn, pod=pod, namespace=where)

        return cls(
            source,
            root_kinds=declared,
            namespace=namespace,
            deployment=deployment,
            log_tail=tail,
            facts=facts,
        )

    # -- life -----------------------------------------------------------------------------
    @property
    def reflectors(self) -> list[streams.Reflector]:
        return [*self._root_reflectors, *self._pod_reflectors, self._event_reflector]

    def start(self) -> DeploymentCache:
        for reflector in self.reflectors:
            reflector.start()
        return self

    def stop(self) -> None:
        for reflector in self.reflectors:
            reflector.stop()

    def __enter__(self) -> DeploymentCache:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def wait_synced(self, timeout_s: float = SYNC_TIMEOUT_S) -> None:
        """Return once every kind is listed (or known hidden); else a retryable error that
        says which kinds could not be read and why."""
        waiting = [r for r in self.reflectors if not r.wait_settled(timeout_s)]
        if waiting:
            why = "; ".join(f"{r.resource.kind}: {r.error or 'no answer yet'}" for r in waiting)
            raise RetryableError(
                f"The cluster's deployments could not be read within {timeout_s:.0f}s ({why}).",
                delay_s=5.0,
                hint="Check that the API server answers (`kubefoundry cluster`); the view "
                "fills in as soon as it does.",
            )

    def hidden(self) -> list[str]:
        """The root kinds RBAC does not let this connection list and watch (a kind the
        cluster does not serve is not hidden: it has no deployments)."""
        return [
            r.resource.kind for r in self._root_reflectors if r.state is streams.State.FORBIDDEN
        ]

    # -- reading --------------------------------------------------------------------------
    def rows(
        self,
        namespace: str | None = None,
        *,
        namespaces: set[str] | None = None,
        with_status: bool = False,
    ) -> list[dict[str, Any]]:
        """``listing.row`` of each root in ``namespace`` (None: all the cache sees), and
        only in ``namespaces`` when given (the namespaces a user may see). ``with_status``
        adds where each deployment is (``phase`` code, ``ready``, ``wanted``) from the cached
        objects, as ``status`` says it without log tails: a dashboard of every deployment
        costs no request to the cluster."""
        with self._lock:
            found = [
                (key[0], ref[2], row)
                for key, roots in self._roots.items()
                if (namespace is None or key[0] == namespace)
                and (namespaces is None or key[0] in namespaces)
                for ref, (_, row) in roots.items()
            ]
        rows = [row for _, _, row in sorted(found, key=lambda f: (f[0], f[1]))]
        if not with_status:
            return rows
        out = []
        for row in rows:
            try:
                now = self.status(str(row["name"]), str(row["namespace"]))
            except NotFoundError:  # deleted since the rows were read
                continue
            out.append(row | {"phase": now.phase.code, "ready": now.ready, "wanted": now.wanted})
        return out

    def root(self, name: str, namespace: str) -> Object:
        """Deployment ``name``'s root; the same not-found error as ``deploying.find``."""
        with self._lock:
            roots = self._roots.get((namespace, name))
            if roots:
                return roots[min(roots)][0]
            here = sorted({dep for ns, dep in self._roots if ns == namespace})
            elsewhere = sorted({ns for ns, dep in self._roots if dep == name})
        raise deploying.missing(name, namespace=namespace, here=here, elsewhere=elsewhere)

    def exists(self, name: str, namespace: str) -> bool:
        with self._lock:
            return bool(self._roots.get((namespace, name)))

    def pods(self, name: str, namespace: str) -> list[Object]:
        with self._lock:
            found = self._pods.get((namespace, name), {})
            return [found[p] for p in sorted(found)]

    def status(self, name: str, namespace: str, *, read_logs: bool = False) -> phases.Progress:
        """``deploying.progress`` of the cached objects; log tails read now if asked."""
        root = self.root(name, namespace)
        pods = self.pods(name, namespace)

        def logs(loading: list[Object]) -> dict[str, list[str]]:
            read = self._log_tail if read_logs else None
            names = [str(p["metadata"]["name"]) for p in loading]
            return {n: read(n, namespace) for n in names} if read else {}

        return deploying.progress(
            root,
            pods,
            events=lambda names: self._events_of(namespace, names),
            logs=logs,
            facts=self.facts,
        )

    def events(self, name: str, namespace: str) -> list[dict[str, Any]]:
        """The Kubernetes events about deployment ``name``'s root and pods, oldest first,
        as ``deploy/events`` rows (type, reason, message, object, count, time)."""
        self.root(name, namespace)  # not found: the same error as everywhere
        with self._lock:
            names = self._names_of(namespace, name)
            found = [e for n in names for e in self._events.get((namespace, n), {}).values()]
        return [events.row(e) for e in sorted(found, key=_event_order)]

    def _events_of(self, namespace: str, names: Sequence[str]) -> dict[str, list[Object]]:
        with self._lock:
            out = {n: list(self._events.get((namespace, n), {}).values()) for n in names}
        return {n: sorted(found, key=_event_order) for n, found in out.items() if found}

    def _names_of(self, namespace: str, name: str) -> list[str]:
        """The objects whose events are the deployment's: its roots and its pods, the ones
        gone included (their events outlive them)."""
        return [n for (ns, n), dep in self._owner.items() if ns == namespace and dep == name]

    # -- subscribers ----------------------------------------------------------------------
    def subscribe(
        self,
        *,
        namespace: str | None = None,
        deployment: str | None = None,
        wake: Callable[[], None] | None = None,
    ) -> Subscription:
        subscription = Subscription(self, Interest(namespace, deployment), wake)
        with self._lock:
            self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(subscription)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    # -- bookkeeping, on the reflectors' threads -------------------------------------------
    def _roots_changed(self, _: streams.Reflector, changes: Sequence[streams.Change]) -> None:
        touched: set[tuple[str, str]] = set()
        with self._lock:
            for change in changes:
                obj = change.object
                key, ref = _deployment_key(obj), _ref(obj)
                if change.type == "DELETED" or not identity.is_root(obj):
                    held = self._roots.get(key, {})
                    if held.pop(ref, None) is None:
                        continue  # not a root we held (another of our objects of a root kind)
                    self._owner.pop((key[0], ref[2]), None)
                    if not held:
                        self._forget(key)
                else:
                    self._roots.setdefault(key, {})[ref] = (obj, listing.row(obj))
                    self._owner[(key[0], ref[2])] = key[1]
                touched.add(key)
        self._wake(touched, roots=True, everyone=not changes)

    def _pods_changed(self, _: streams.Reflector, changes: Sequence[streams.Change]) -> None:
        touched: set[tuple[str, str]] = set()
        with self._lock:
            for change in changes:
                obj = change.object
                key, pod = _pod_key(obj), str(obj["metadata"]["name"])
                touched.add(key)
                held = self._pods.setdefault(key, {})
                if change.type == "DELETED":
                    held.pop(pod, None)
                    if not held:
                        del self._pods[key]
                    if key not in self._roots:  # nobody will ask for its events any more
                        self._owner.pop((key[0], pod), None)
                else:
                    held[pod] = obj
                    self._owner[(key[0], pod)] = key[1]  # kept after the pod: its events stay
        self._wake(touched, roots=False, everyone=not changes)

    def _events_changed(self, _: streams.Reflector, changes: Sequence[streams.Change]) -> None:
        touched: set[tuple[str, str]] = set()
        with self._lock:
            for change in changes:
                obj = change.object
                about = obj.get("involvedObject") or {}
                where = (str(obj["metadata"].get("namespace") or ""), str(about.get("name", "")))
                held = self._events.setdefault(where, {})
                if change.type == "DELETED":
                    held.pop(str(obj["metadata"]["name"]), None)
                    if not held:
                        del self._events[where]
                else:
                    held[str(obj["metadata"]["name"])] = obj
                owner = self._owner.get(where)
                if owner is not None:
                    touched.add((where[0], owner))
        self._wake(touched, roots=False, everyone=not changes)

    def _forget(self, key: tuple[str, str]) -> None:
        """A deployment without a root is gone: drop what only it used (under the lock)."""
        del self._roots[key]
        for owned in [k for k, dep in self._owner.items() if k[0] == key[0] and dep == key[1]]:
            if owned[1] not in self._pods.get(key, {}):
                del self._owner[owned]

    def _wake(self, touched: set[tuple[str, str]], *, roots: bool, everyone: bool) -> None:
        """Wake the subscribers a change concerns; ``everyone`` for a reflector's new state
        (hidden, stale, back), which changes what every view may say."""
        if not touched and not everyone:
            return
        with self._lock:
            self.generation += 1
            subscribers = list(self._subscribers)
        for subscription in subscribers:
            if everyone or _concerns(subscription.interest, touched, roots=roots):
                subscription.fire()


def _concerns(interest: Interest, touched: set[tuple[str, str]], *, roots: bool) -> bool:
    if interest.deployment is None:  # a list: only roots make its rows
        return roots and any(
            interest.namespace is None or ns == interest.namespace for ns, _ in touched
        )
    return (interest.namespace, interest.deployment) in touched


def follow(
    cache: DeploymentCache,
    *,
    name: str,
    namespace: str,
    timeout_s: float,
    poll_s: float,
    clock: Callable[[], float],
) -> Iterator[phases.Progress]:
    """``deploying.watch`` over a started cache: each new state until ready or failed, a
    timeout as a failure saying where it stuck. Log tails are read again every ``poll_s``
    while the phase is read from them (downloading, loading); otherwise it sleeps until a
    stream says something changed."""
    deadline, last = clock() + timeout_s, None
    with cache.subscribe(namespace=namespace, deployment=name) as changes:
        cache.wait_synced(max(1.0, min(timeout_s, SYNC_TIMEOUT_S)))
        while True:
            now = cache.status(name, namespace, read_logs=True)
            if (now.phase, now.message, now.ready) != last:
                last = (now.phase, now.message, now.ready)
                yield now
            if now.phase.is_terminal:
                return
            left = deadline - clock()
            if left <= 0:
                yield phases.Progress(
                    phases.Phase.FAILED,
                    f"not ready after {timeout_s:.0f}s; still {now.phase.label}: {now.message}",
                    now.ready,
                    now.wanted,
                )
                return
            # Log tails have no stream, and a wait that turns into a failure (an operator that
            # never answers, pods nothing will place) has no event at the moment it does.
            timed = now.phase is not phases.Phase.PULLING
            changes.wait(min(left, poll_s) if timed else left)


def _event_time(event: Mapping[str, Any]) -> str:
    meta = event.get("metadata") or {}
    found = (
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or meta.get("creationTimestamp")
    )
    return str(found or "")


def _event_order(event: Mapping[str, Any]) -> tuple[str, str]:
    """Oldest first. ``lastTimestamp`` has whole seconds and ``eventTime`` microseconds:
    "…:45Z" would sort after "…:45.2Z", so whole seconds get a zero fraction."""
    when = _event_time(event)
    if when.endswith("Z") and "." not in when:
        when = when[:-1] + ".000000Z"
    return (when, str((event.get("metadata") or {}).get("name", "")))


def _deployment_key(obj: Mapping[str, Any]) -> tuple[str, str]:
    return (str(obj["metadata"].get("namespace") or ""), identity.deployment_of(obj))


def _pod_key(pod: Mapping[str, Any]) -> tuple[str, str]:
    return (str(pod["metadata"].get("namespace") or ""), identity.deployment_of_pod(pod))


def _ref(obj: Mapping[str, Any]) -> Ref:
    return (str(obj.get("apiVersion", "")), str(obj.get("kind", "")), str(obj["metadata"]["name"]))
