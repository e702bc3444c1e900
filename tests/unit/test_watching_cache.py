"""The deployment cache's bookkeeping over recorded streams (the fake ``Source`` of
test_watching_reflector.py): rows equal ``listing.row``, status equals ``deploying.progress`` of the
same objects, events are matched to a deployment through its root and pods, subscribers are
woken for what concerns them only and freed when they close. Against the real API server:
tests/integration/test_watching.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.unit.test_watching_reflector import LiveStream, RecordedSource, event

from kubefoundry.cluster import watching as streams
from kubefoundry.core import identity
from kubefoundry.core.errors import NotFoundError
from kubefoundry.deploy import deploying, events, listing, phases, watching

DEPLOYMENT = streams.Resource("apps/v1", "Deployment", "deployments")


def root(name: str, namespace: str, *, replicas: int = 1, version: str = "1") -> dict[str, Any]:
    summary = identity.PlanSummary(
        model="Qwen/Qwen2.5-1.5B-Instruct", gpu="1xL4", replicas=replicas
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "resourceVersion": version,
            "labels": {identity.MANAGED_BY: identity.OURS, identity.DEPLOYMENT: name},
            "annotations": {identity.ROOT: "true", identity.PLAN: summary.to_annotation()},
        },
        "spec": {"replicas": replicas},
        "status": {},
    }


def helper(name: str, namespace: str) -> dict[str, Any]:
    """Another of our objects of a root kind (llm-d's endpoint picker): not a deployment."""
    obj = root(f"{name}-epp", namespace)
    obj["metadata"]["labels"][identity.DEPLOYMENT] = name
    del obj["metadata"]["annotations"][identity.ROOT]
    return obj


def pod(name: str, deployment: str, namespace: str, *, scheduled: bool) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "resourceVersion": "1",
            "labels": {identity.DEPLOYMENT: deployment},
        },
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True" if scheduled else "False"}],
        },
    }


def k8s_event(
    name: str, about: str, namespace: str, reason: str, when: str = "2026-01-01T00:00:01Z"
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1"},
        "involvedObject": {"kind": "Pod", "name": about, "namespace": namespace},
        "reason": reason,
        "message": f"{reason} happened",
        "type": "Warning",
        "count": 1,
        "lastTimestamp": when,
    }


class Recorded:
    """One recorded source per kind (pods: per selector, ours and each operator's label);
    ``push`` sends a watch event on that kind's (and selector's) stream."""

    def __init__(self, lists: dict[str, list[dict[str, Any]]]) -> None:
        self.lists = lists
        self.streams: dict[tuple[str, str | None], LiveStream] = {}
        self.selectors: dict[str, list[str | None]] = {}

    def __call__(self, resource: streams.Resource, selector: str | None) -> streams.Source:
        self.selectors.setdefault(resource.kind, []).append(selector)
        ours = resource.kind != "Pod" or selector == identity.DEPLOYMENT
        stream = self.streams.setdefault((resource.kind, selector), LiveStream())
        listed = self.lists.get(resource.kind, []) if ours else []
        source = RecordedSource(lists=[(listed, "1")], watches=[stream])
        source.resource = resource
        return source

    def push(self, kind: str, change: str, obj: dict[str, Any], selector: str = "") -> None:
        where = selector or self.selectors[kind][0]  # ours: the first source of the kind
        self.streams[(kind, where)]._queue.put(event(change, obj))


@pytest.fixture
def recorded() -> Recorded:
    return Recorded(
        {
            "Deployment": [root("chat", "team-a"), helper("chat", "team-a"), root("rag", "team-b")],
            "Pod": [pod("chat-0", "chat", "team-a", scheduled=False)],
            "Event": [k8s_event("e1", "chat-0", "team-a", "FailedScheduling")],
        }
    )


@pytest.fixture
def cache(recorded: Recorded) -> Iterator[watching.DeploymentCache]:
    with watching.DeploymentCache(recorded, root_kinds=[DEPLOYMENT]) as started:
        started.wait_synced(5.0)
        yield started


def until(check: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.005)


def test_rows_are_the_listing_rows_of_roots_only(cache: watching.DeploymentCache) -> None:
    assert cache.rows() == [listing.row(root("chat", "team-a")), listing.row(root("rag", "team-b"))]
    assert [r["name"] for r in cache.rows("team-b")] == ["rag"]
    assert [r["name"] for r in cache.rows(namespaces={"team-a"})] == ["chat"]
    assert cache.rows(namespaces=set()) == []


def test_only_our_objects_are_watched(recorded: Recorded, cache: watching.DeploymentCache) -> None:
    assert recorded.selectors["Deployment"] == [identity.managed_selector()]
    # Pods with our label, and those an operator labels its own way (KAITO's): the key exists.
    assert recorded.selectors["Pod"] == [identity.DEPLOYMENT, *identity.OPERATOR_POD_LABELS]


def test_pods_an_operator_labels_its_own_way_count_for_their_deployment(
    recorded: Recorded, cache: watching.DeploymentCache
) -> None:
    """KAITO's pods carry only its labels: an InferenceSet's pod names the InferenceSet (our
    root) and the Workspace it made; it counts for the InferenceSet's deployment."""
    made = pod("chat-ws-0", "chat", "team-a", scheduled=True)
    labels = made["metadata"]["labels"]
    labels.pop(identity.DEPLOYMENT)
    labels |= {"inferenceset.kaito.sh/created-by": "chat", "kaito.sh/workspace": "chat-ws"}
    before = cache.generation
    recorded.push("Pod", "ADDED", made, selector="kaito.sh/workspace")
    until(lambda: cache.generation > before)
    assert "chat-ws-0" in {p["metadata"]["name"] for p in cache.pods("chat", "team-a")}


def test_status_is_progress_of_the_cached_objects(cache: watching.DeploymentCache) -> None:
    now = cache.status("chat", "team-a")
    expected = deploying.progress(
        root("chat", "team-a"),
        [pod("chat-0", "chat", "team-a", scheduled=False)],
        events=lambda _: {"chat-0": [k8s_event("e1", "chat-0", "team-a", "FailedScheduling")]},
    )
    assert now == expected
    assert now.phase is phases.Phase.SCHEDULING
    assert now.message == "FailedScheduling happened"


def test_an_unknown_name_is_the_same_not_found_as_deploying_find(
    cache: watching.DeploymentCache,
) -> None:
    with pytest.raises(NotFoundError) as raised:
        cache.status("rag", "team-a")
    assert "team-b has" in str(raised.value.hint)  # where it is, as `find` says
    with pytest.raises(NotFoundError) as raised:
        cache.status("chatt", "team-a")
    assert list(raised.value.suggestions) == ["chat"]


def test_events_follow_the_pods_and_wake_only_their_deployment(
    recorded: Recorded, cache: watching.DeploymentCache
) -> None:
    chat = cache.subscribe(namespace="team-a", deployment="chat")
    rag = cache.subscribe(namespace="team-b", deployment="rag")
    listing_a = cache.subscribe(namespace="team-a")
    recorded.push(
        "Event", "ADDED", k8s_event("e2", "chat-0", "team-a", "Scheduled", "2026-01-01T00:00:02Z")
    )
    assert chat.wait(5.0)
    assert [e["reason"] for e in cache.events("chat", "team-a")] == [
        "FailedScheduling",
        "Scheduled",
    ]
    assert cache.events("chat", "team-a")[-1] == events.row(
        k8s_event("e2", "chat-0", "team-a", "Scheduled", "2026-01-01T00:00:02Z")
    )
    assert not rag.wait(0.1)  # another deployment's event
    assert not listing_a.wait(0.01)  # a list's rows have no events in them


def test_a_root_change_reaches_the_list_of_its_namespace_only(
    recorded: Recorded, cache: watching.DeploymentCache
) -> None:
    team_a, team_b, everything = (
        cache.subscribe(namespace="team-a"),
        cache.subscribe(namespace="team-b"),
        cache.subscribe(),
    )
    recorded.push("Deployment", "MODIFIED", root("chat", "team-a", replicas=3, version="2"))
    assert team_a.wait(5.0)
    assert everything.wait(5.0)
    assert not team_b.wait(0.1)
    assert cache.rows("team-a")[0]["replicas"] == 3


def test_a_deleted_root_goes_and_its_status_is_not_found(
    recorded: Recorded, cache: watching.DeploymentCache
) -> None:
    chat = cache.subscribe(namespace="team-a", deployment="chat")
    recorded.push("Deployment", "DELETED", root("chat", "team-a", version="3"))
    assert chat.wait(5.0)
    assert [r["name"] for r in cache.rows()] == ["rag"]
    with pytest.raises(NotFoundError):
        cache.status("chat", "team-a")


def test_a_helper_object_of_a_root_kind_changes_no_row(
    recorded: Recorded, cache: watching.DeploymentCache
) -> None:
    team_a = cache.subscribe(namespace="team-a")
    recorded.push("Deployment", "DELETED", helper("chat", "team-a"))
    assert not team_a.wait(0.2)
    assert [r["name"] for r in cache.rows()] == ["chat", "rag"]


def test_closed_subscriptions_are_freed(cache: watching.DeploymentCache) -> None:
    with cache.subscribe(namespace="team-a"), cache.subscribe(deployment="chat"):
        assert cache.subscribers == 2
    assert cache.subscribers == 0


def test_a_new_pod_wakes_its_deployment_with_the_new_phase(
    recorded: Recorded, cache: watching.DeploymentCache
) -> None:
    rag = cache.subscribe(namespace="team-b", deployment="rag")
    assert cache.status("rag", "team-b").phase is phases.Phase.WAITING
    recorded.push("Pod", "ADDED", pod("rag-0", "rag", "team-b", scheduled=False))
    assert rag.wait(5.0)
    until(lambda: cache.status("rag", "team-b").phase is phases.Phase.SCHEDULING)


def test_follow_yields_each_new_state_until_terminal(
    recorded: Recorded, cache: watching.DeploymentCache
) -> None:
    ready = root("rag", "team-b", version="5")
    ready["status"] = {"availableReplicas": 1, "readyReplicas": 1}

    def later() -> None:
        time.sleep(0.2)
        recorded.push("Pod", "ADDED", pod("rag-0", "rag", "team-b", scheduled=False))
        time.sleep(0.2)
        recorded.push("Deployment", "MODIFIED", ready)

    threading.Thread(target=later, daemon=True).start()
    seen = list(
        watching.follow(
            cache, name="rag", namespace="team-b", timeout_s=10, poll_s=2, clock=time.monotonic
        )
    )
    assert [p.phase for p in seen] == [
        phases.Phase.WAITING,
        phases.Phase.SCHEDULING,
        phases.Phase.READY,
    ]


def test_follow_says_where_it_stuck_when_time_runs_out(cache: watching.DeploymentCache) -> None:
    seen = list(
        watching.follow(
            cache, name="chat", namespace="team-a", timeout_s=0.3, poll_s=2, clock=time.monotonic
        )
    )
    assert seen[-1].phase is phases.Phase.FAILED
    assert seen[-1].message == "not ready after 0s; still scheduling: FailedScheduling happened"
