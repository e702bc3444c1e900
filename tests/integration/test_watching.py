"""The watch cache and its event streams against the sandbox's real API server (issue 10).

A root object applied to the cluster appears in the cache, changes and goes without any
re-list (the streams carry it); the list stream (``TestClient.stream``) sends it; the status
stream sends the phase and the Kubernetes events as the scheduler writes them, and says when
the deployment is deleted; a client that goes away frees its subscription. The 410 path is
shown for real: etcd is compacted past the version a quiet watch of events resumes from
(events are not in the API server's watch cache, so the watch goes to etcd and the server
answers 410 Gone), and the reflector lists again. A user RBAC gives nothing sees every root
kind as hidden, not an error.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kubernetes import client, dynamic
from tests.support import controlplane

from kubefoundry.api.app import create_app
from kubefoundry.cluster import connecting
from kubefoundry.cluster import watching as streams
from kubefoundry.core import identity
from kubefoundry.deploy import deploying, listing, phases, watching


@pytest.fixture
def conn(control_plane: controlplane.ControlPlane) -> Iterator[connecting.Connection]:
    with connecting.connect(connecting.Target(kubeconfig=control_plane.kubeconfig)) as made:
        yield made


@pytest.fixture
def cache(conn: connecting.Connection) -> Iterator[watching.DeploymentCache]:
    with watching.DeploymentCache.connect(conn) as started:
        started.wait_synced()
        yield started


def root(name: str, namespace: str, *, replicas: int, node: str = "none") -> dict[str, Any]:
    """A vLLM-like root: ours, with a plan summary; its pods ask for a node nobody has."""
    summary = identity.PlanSummary(model="Qwen/Qwen2.5-1.5B-Instruct", gpu="1xL4", replicas=1)
    labels = {identity.MANAGED_BY: identity.OURS, identity.DEPLOYMENT: name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {identity.ROOT: "true", identity.PLAN: summary.to_annotation()},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {identity.DEPLOYMENT: name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {"kubefoundry.io/test-node": node},
                    "containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.19.0"}],
                },
            },
        },
    }


def deployments(dynamic_client: dynamic.DynamicClient) -> Any:
    return dynamic_client.resources.get(api_version="apps/v1", kind="Deployment")


def eventually(check: Callable[[], Any], *, timeout_s: float = 30.0, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        assert time.monotonic() < deadline, f"not after {timeout_s:.0f}s: {what}"
        time.sleep(0.05)
    return found


def test_a_root_appears_changes_and_goes_through_the_streams(
    cache: watching.DeploymentCache, dynamic_client: dynamic.DynamicClient, namespace: str
) -> None:
    resource = deployments(dynamic_client)
    changed = cache.subscribe(namespace=namespace)
    resource.create(body=root("chat", namespace, replicas=0), namespace=namespace)
    assert changed.wait(30.0)
    rows = eventually(lambda: cache.rows(namespace), what="the row of the new root")
    applied = resource.get(name="chat", namespace=namespace).to_dict()
    assert rows == [listing.row(applied)]

    patch = {"metadata": {"annotations": {identity.PLAN: '{"replicas":3}'}}}
    resource.patch(body=patch, name="chat", namespace=namespace, content_type=MERGE)
    eventually(lambda: cache.rows(namespace)[0]["replicas"] == 3, what="the new summary")

    resource.delete(name="chat", namespace=namespace)
    eventually(lambda: cache.rows(namespace) == [], what="the row to go")
    # All of it came over the watch: nothing was listed again.
    assert all(r.relists == 0 for r in cache.reflectors)
    changed.close()


MERGE = "application/merge-patch+json"


def test_cached_status_and_events_equal_a_direct_read(
    cache: watching.DeploymentCache,
    conn: connecting.Connection,
    dynamic_client: dynamic.DynamicClient,
    namespace: str,
) -> None:
    deployments(dynamic_client).create(body=root("rag", namespace, replicas=1), namespace=namespace)
    now = eventually(
        lambda: _settled(cache, "rag", namespace, "FailedScheduling"),
        what="the pod and the scheduler's event in the cache",
    )
    assert now.phase is phases.Phase.SCHEDULING
    assert now == deploying.status(conn, name="rag", namespace=namespace)
    reasons = [e["reason"] for e in cache.events("rag", namespace)]
    assert "FailedScheduling" in reasons


def _settled(
    cache: watching.DeploymentCache, name: str, namespace: str, reason: str
) -> phases.Progress | None:
    if not cache.exists(name, namespace) or not cache.pods(name, namespace):
        return None
    if reason not in [e["reason"] for e in cache.events(name, namespace)]:
        return None
    return cache.status(name, namespace)


@pytest.fixture
def api(control_plane: controlplane.ControlPlane, namespace: str) -> Iterator[TestClient]:
    app = create_app(
        cluster=connecting.Target(kubeconfig=control_plane.kubeconfig, namespace=namespace)
    )
    with TestClient(app) as test_client:
        yield test_client


def test_the_list_stream_sends_a_change_and_frees_its_subscriber_on_disconnect(
    api: TestClient, dynamic_client: dynamic.DynamicClient, namespace: str
) -> None:
    with api.stream("GET", "/api/v1/deployments/stream", params={"namespace": namespace}) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        frames = _frames(stream.iter_lines())
        assert next(frames) == ("deployments", {"deployments": [], "hidden": []})
        cache = api.app.state.deployment_cache.get(api.app.state.cluster)  # type: ignore[attr-defined]
        assert cache.subscribers == 1
        deployments(dynamic_client).create(
            body=root("chat", namespace, replicas=0), namespace=namespace
        )
        name, body = next(frames)
        assert name == "deployments"
        assert [(d["namespace"], d["name"], d["gpu"]) for d in body["deployments"]] == [
            (namespace, "chat", "1xL4")
        ]
    eventually(lambda: cache.subscribers == 0, timeout_s=5.0, what="the subscriber freed")
    listed = api.get("/api/v1/deployments", params={"namespace": namespace}).json()
    assert [d["name"] for d in listed["deployments"]] == ["chat"]


def test_the_status_stream_sends_phase_events_and_deletion(
    api: TestClient, dynamic_client: dynamic.DynamicClient, namespace: str
) -> None:
    missing = api.get(f"/api/v1/deployments/{namespace}/nope/status/stream")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"

    resource = deployments(dynamic_client)
    resource.create(body=root("rag", namespace, replicas=1), namespace=namespace)
    eventually(
        lambda: api.get(f"/api/v1/deployments/{namespace}/rag/events").status_code == 200,
        what="the cache to hold rag",
    )
    url = f"/api/v1/deployments/{namespace}/rag/status/stream"
    seen: list[tuple[str, Any]] = []
    with api.stream("GET", url) as stream:
        for name, body in _frames(stream.iter_lines()):
            seen.append((name, body))
            if name == "k8s-event" and body["reason"] == "FailedScheduling":
                resource.delete(name="rag", namespace=namespace)
            if name == "deleted":
                break
    names = [n for n, _ in seen]
    assert names[0] == "status"
    assert "k8s-event" in names
    assert seen[-1] == ("deleted", {"namespace": namespace, "name": "rag"})
    phases_seen = [b["phase"] for n, b in seen if n == "status"]
    assert "scheduling" in phases_seen

    logs = api.get(f"/api/v1/deployments/{namespace}/rag/logs")
    assert logs.status_code == 404  # deleted: the cache no longer has it


def test_pods_without_logs_answer_with_the_reason_not_an_error(
    api: TestClient, dynamic_client: dynamic.DynamicClient, namespace: str
) -> None:
    """kwok's pods run on nodes with no kubelet: the API server answers 500 for their logs."""
    body = root("chat", namespace, replicas=1)
    template = body["spec"]["template"]["spec"]
    del template["nodeSelector"]
    template["tolerations"] = [{"operator": "Exists"}]
    deployments(dynamic_client).create(body=body, namespace=namespace)
    core = client.CoreV1Api(dynamic_client.client)

    def running() -> bool:
        pods = core.list_namespaced_pod(namespace).items
        return bool(pods) and all(p.status.phase == "Running" for p in pods)

    eventually(running, timeout_s=60.0, what="kwok to run the pod")
    eventually(
        lambda: api.get(f"/api/v1/deployments/{namespace}/chat/logs").json()["pods"],
        what="the pod in the cache",
    )
    answer = api.get(f"/api/v1/deployments/{namespace}/chat/logs")
    assert answer.status_code == 200
    pods = answer.json()
    (pod,) = pods["pods"]
    assert pods["pods"][pod] == []
    assert "kwok" in pods["problems"][pod]
    with api.stream("GET", f"/api/v1/deployments/{namespace}/chat/logs?follow=true") as stream:
        frames = list(_frames(stream.iter_lines()))
    assert frames[0][0] == "problem"
    assert frames[0][1]["pod"] == pod
    assert frames[-1] == ("end", {"pods": [pod]})


def test_a_real_410_makes_the_reflector_list_again(
    control_plane: controlplane.ControlPlane,
    conn: connecting.Connection,
    api_client: client.ApiClient,
    namespace: str,
) -> None:
    """Events skip the API server's watch cache: a watch resumed from a version etcd has
    compacted away is answered 410 Gone, as after a long quiet spell on a real cluster."""
    events = streams.ApiSource(conn, watching.EVENTS, namespace=namespace)
    reflector = streams.Reflector(events, watch_timeout_s=(1, 1)).start()
    try:
        assert reflector.wait_settled(10.0)
        listed_at = int(str(reflector.version))
        core = client.CoreV1Api(api_client)
        for _ in range(3):  # etcd's revision moves on; the watch resumes from listed_at + 1
            core.create_namespaced_config_map(
                namespace, {"metadata": {"name": f"bump-{uuid.uuid4().hex[:6]}"}}
            )
        revision = _etcd(control_plane, "/v3/kv/range", {"key": "AA=="})["header"]["revision"]
        assert int(revision) > listed_at + 1
        _etcd(control_plane, "/v3/kv/compaction", {"revision": revision, "physical": True})
        eventually(lambda: reflector.relists >= 1, timeout_s=20.0, what="a re-list after 410")
        core.create_namespaced_event(
            namespace,
            {
                "metadata": {"name": "after-the-relist"},
                "involvedObject": {"kind": "Pod", "name": "p", "namespace": namespace},
                "reason": "Tested",
                "message": "seen through the new watch",
            },
        )
        eventually(
            lambda: reflector.get((namespace, "after-the-relist")),
            what="an event through the watch that followed the re-list",
        )
        assert reflector.state is streams.State.SYNCED
    finally:
        reflector.stop()


def test_a_user_rbac_gives_nothing_sees_hidden_kinds_not_an_error(
    conn: connecting.Connection,
) -> None:
    nobody = conn.impersonating(
        f"kf-nobody-{uuid.uuid4().hex[:6]}", groups=("system:authenticated",)
    )
    with watching.DeploymentCache.connect(nobody) as cache:
        cache.wait_synced()
        assert "Deployment" in cache.hidden()
        assert cache.rows() == []


def _etcd(control_plane: controlplane.ControlPlane, path: str, body: dict[str, Any]) -> Any:
    """etcd's own JSON gateway (its client URL, found on the etcd process's command line)."""
    (etcd,) = [p for p in control_plane.processes if p.name == "etcd"]
    argv = Path(f"/proc/{etcd.pid}/cmdline").read_bytes().decode().split("\0")
    url = argv[argv.index("--listen-client-urls") + 1].split(",")[0]
    request = urllib.request.Request(
        url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def _frames(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    """(event name, JSON data) of each server-sent event; comments (keep-alives) skipped."""
    name = None
    for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: ") and name is not None:
            yield name, json.loads(line.removeprefix("data: "))
            name = None
