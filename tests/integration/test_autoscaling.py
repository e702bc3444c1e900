"""Autoscaling proven end to end with the real scalers (issue 12).

What runs, all real but the model server:

- the sandbox's model servers: llm-d-inference-sim (a FAKE vLLM: no GPU here) at each pod's
  own address, reporting ``vllm:num_requests_running`` as vLLM does;
- Prometheus v3.16, scraping those pods as the PodMonitor we render would have it (the
  Prometheus Operator itself does not run: ``sandbox/components.prometheus_config``);
- KEDA v2.21's operator, which turns our ScaledObject into an HPA, and its metrics adapter,
  an aggregated API (``external.metrics.k8s.io``) that runs our ScaledObject's PromQL;
- kube-controller-manager's HPA controller, which reads that metric through the API server's
  aggregation layer and sets the Deployment's replicas.

Load is requests held open at the first pod's address (as a Service would deliver them).
The test prints how long each step took. One change is the test's own, and stated: the
ScaledObject's scale-down window and polling interval are cut from the plan's 300 s and
15 s to 0 s and 5 s, so scale-in shows within the test's time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from kubernetes import client
from kubernetes.utils import parse_quantity
from tests.support import controlplane
from tests.support.deploys import deploy, eventually

from kubefoundry.api.app import create_app
from kubefoundry.cluster import connecting, inspecting
from kubefoundry.cluster.connecting import Target
from kubefoundry.deploy import monitoring
from kubefoundry.sandbox import components, model_servers

TOKENS = 600  # per request: 40 ms + 600 × 15 ms ≈ 9 s at the simulator's latencies
SCALE_S = 240.0  # the L4 nodes may still be held by an earlier test's pods


class Steps:
    """When each step was seen, from the start, printed as the test goes."""

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.seen: dict[str, float] = {}

    def wait(self, what: str, check: Callable[[], bool], *, timeout_s: float = SCALE_S) -> None:
        eventually(check, timeout_s=timeout_s, what=what)
        self.seen[what] = time.monotonic() - self.began
        print(f"  {self.seen[what]:6.1f} s  {what}")


class Load:
    """``users`` requests always in flight at one address, until stopped."""

    def __init__(self, url: str, model: str, users: int) -> None:
        self.url, self.model, self.users = url, model, users
        self.stop = threading.Event()
        self.done = 0
        self.failed: list[str] = []
        self.threads = [threading.Thread(target=self.user, daemon=True) for _ in range(users)]

    def user(self) -> None:
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": "Count slowly."}],
            "max_tokens": TOKENS,
            "ignore_eos": True,  # the simulator then answers with exactly max_tokens
        }
        with httpx.Client(timeout=60) as http:
            while not self.stop.is_set():
                try:
                    http.post(f"{self.url}/v1/chat/completions", json=body).raise_for_status()
                    self.done += 1
                except httpx.HTTPError as err:
                    self.failed.append(str(err))
                    time.sleep(1)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()


def _promql(url: str, query: str) -> float | None:
    """The one value of an instant query, or None for an empty result."""
    answer = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=5).json()
    assert answer["status"] == "success", answer
    result = answer["data"]["result"]
    return float(result[0]["value"][1]) if result else None


@pytest.mark.operator("keda")
def test_keda_and_the_hpa_scale_our_deployment_out_and_in_on_the_servers_load(
    control_plane: controlplane.ControlPlane, conn: connecting.Connection, namespace: str
) -> None:
    why = model_servers.unavailable()
    if why:
        pytest.skip(f"the sandbox runs no model servers here: {why}")
    prometheus = control_plane.prometheus
    assert prometheus is not None  # the sandbox always runs one
    registry = client.ApiregistrationV1Api(conn.api)
    try:
        service = registry.read_api_service(components.EXTERNAL_METRICS)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
        pytest.skip("KEDA's metrics adapter is not registered: this machine has only loopback")
    assert [c.status for c in service.status.conditions if c.type == "Available"] == ["True"]

    done = deploy(
        conn,
        model="qwen2.5-7b",
        runtime="vllm",
        gpu="L4",
        replicas=1,
        serving={"prometheus": prometheus},
    )
    plan, name = done.result.plan, done.result.plan.name
    s = plan.autoscaling
    assert (s.min_replicas, s.max_replicas) == (1, 6), s
    assert not s.scale_to_zero  # a plain vLLM Deployment keeps one warm (the plan says why)
    target = int(s.target)  # requests running per replica, from the speed model
    users = 2 * target + 1  # ceil(users / target) = 3 replicas
    want = -(-users // target)
    assert want == 3

    api = client.CustomObjectsApi(conn.api)
    (scaled,) = api.list_namespaced_custom_object(
        "keda.sh", "v1alpha1", namespace, "scaledobjects"
    )["items"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["metadata"]["serverAddress"] == prometheus
    query = trigger["metadata"]["query"]
    assert (
        query
        == f'sum(vllm:num_requests_running{{namespace="{namespace}",model_name="{plan.model_id}"}})'
    )
    assert float(trigger["metadata"]["threshold"]) == s.target
    # The test's own change, so scale-in shows within minutes (stated above).
    api.patch_namespaced_custom_object(
        "keda.sh",
        "v1alpha1",
        namespace,
        "scaledobjects",
        scaled["metadata"]["name"],
        {
            "spec": {
                "pollingInterval": 5,
                "advanced": {
                    "horizontalPodAutoscalerConfig": {
                        "behavior": {
                            "scaleDown": {
                                "stabilizationWindowSeconds": 0,
                                "policies": [{"type": "Pods", "value": 1, "periodSeconds": 5}],
                            }
                        }
                    }
                },
            }
        },
    )

    apps, hpas = client.AppsV1Api(conn.api), client.AutoscalingV2Api(conn.api)
    hpa_name = f"keda-hpa-{scaled['metadata']['name']}"

    def replicas() -> tuple[int, int]:  # (wanted, ready)
        d = apps.read_namespaced_deployment(name, namespace)
        return d.spec.replicas or 0, d.status.ready_replicas or 0

    def hpa() -> Any:
        return hpas.read_namespaced_horizontal_pod_autoscaler(hpa_name, namespace)

    def served() -> float | None:  # the pods Prometheus scrapes now
        return _promql(prometheus, f'count(up{{namespace="{namespace}"}} == 1)')

    def running() -> float | None:
        return _promql(prometheus, query)

    monitor = monitoring.Monitor(conn)
    pods: list[int] = []  # the plot's "pods" series: one point per refresh
    last: list[monitoring.Observed] = []

    def reads(count: float) -> bool:
        (seen,) = monitor.refresh(namespace=namespace, names=[name])
        pods.append(seen.scraped)
        last[:] = [seen]
        return seen.reading.running == count

    steps = Steps()
    print(f"\n{name}: target {target} running per replica, load {users} → {want} replicas")
    steps.wait("1 pod ready", lambda: replicas() == (1, 1))
    steps.wait("Prometheus scrapes its server", lambda: served() == 1)
    (pod,) = inspecting.pods(conn, name=name, namespace=namespace)
    engine = model_servers.engine_of(pod)
    assert engine is not None
    # One server runs them all at once (vLLM's default where the plan sets no limit).
    assert (engine.max_num_seqs or model_servers.VLLM_MAX_NUM_SEQS) >= users
    url = f"http://{pod['status']['podIP']}:{engine.port}"

    with Load(url, plan.model_id, users) as load:
        steps.wait(f"Prometheus: {users} running", lambda: running() == users)
        steps.wait(f"our metrics (pod proxy): {users} running", lambda: reads(users))
        steps.wait(f"the HPA wants {want}", lambda: hpa().status.desired_replicas == want)
        steps.wait(f"{want} pods ready", lambda: replicas() == (want, want))
        steps.wait(f"Prometheus scrapes {want} servers", lambda: served() == want)
        steps.wait("our metrics: every pod read", lambda: reads(users) and pods[-1] == want)

        def per_replica() -> float | None:  # what the adapter gave the HPA, per replica
            metrics = hpa().status.current_metrics or []
            return (
                float(parse_quantity(metrics[0].external.current.average_value))
                if metrics
                else None
            )

        # The query's value (users) over the replicas that now run.
        steps.wait(
            f"the HPA reads {users}/{want} per replica",
            lambda: per_replica() == pytest.approx(users / want, rel=0.01),
        )
        assert replicas() == (want, want)  # ceil(users / target) holds: no further step
        # The bill follows the scaler: the plan's (one replica's nodes) × the GPUs running
        # over the GPUs planned.
        bill = plan.cost.usd_per_hour_total
        assert bill is not None
        assert (plan.replicas, plan.gpu_count) == (1, 1)
        assert last[0].gpus == want
        assert last[0].usd_per_hour == pytest.approx(bill * want)
        steps.seen["load stopped"] = time.monotonic() - steps.began
        print(f"  {steps.seen['load stopped']:6.1f} s  load stopped")
    steps.wait("Prometheus: 0 running", lambda: running() == 0, timeout_s=60)
    steps.wait("the HPA wants 1", lambda: hpa().status.desired_replicas == 1)
    steps.wait("1 pod left", lambda: replicas() == (1, 1))
    steps.wait("our metrics: 1 pod, 0 running", lambda: reads(0) and pods[-1] == 1)
    assert last[0].usd_per_hour == pytest.approx(bill)  # one replica's again
    assert load.failed == [], load.failed[:3]
    assert load.done >= users  # each user's first request came back
    # The replicas series a plot draws: 1, up to 3, back to 1.
    assert (pods[0], max(pods), pods[-1]) == (1, want, 1), pods
    # Never below the plan's floor: this runtime cannot wake from zero.
    assert hpa().spec.min_replicas == 1

    # The page's history comes from the Prometheus the ScaledObject queries (range queries
    # over the vocabulary, every 15 s): it saw the same run, 3 pods then 1, 7 running.
    app = create_app(cluster=Target(kubeconfig=control_plane.kubeconfig, namespace=namespace))
    answers: list[dict[str, Any]] = []

    def history_ends_at_one_pod() -> bool:  # a point every 15 s: the next one after scale-in
        with TestClient(app) as web:
            answers[:] = [web.get(f"/api/v1/deployments/{namespace}/{name}/metrics").json()]
        points = answers[0]["history"]
        return bool(points) and points[-1]["pods"] == 1

    steps.wait("Prometheus' history: 1 pod again", history_ends_at_one_pod, timeout_s=60)
    (body,) = answers
    assert (body["history_source"], body["history_problem"]) == (f"prometheus {prometheus}", None)
    past = body["history"]
    assert [p["at"] - past[0]["at"] for p in past[:3]] == [0, 15, 30]
    series = [p["pods"] for p in past if p["pods"]]
    # Scaled out to 3, then in to 1 (the first minute at one pod is shorter than a step).
    top = series.index(want)
    assert (max(series), series[-1]) == (want, 1), series
    assert series[top:] == sorted(series[top:], reverse=True), series
    assert max(p["running"] or 0 for p in past) == users
    busy = [p for p in past if (p["running"] or 0) == users]
    # Tokens per second while loaded (once a request has finished: the simulator counts
    # tokens at the end): never more than every user's TOKENS per request time (9.04 s).
    rates = [p["output_tps"] for p in past if p["output_tps"]]
    assert busy
    assert rates, past
    assert max(rates) <= users * TOKENS / (0.04 + TOKENS * 0.015) * 1.05, rates
    # Since the deployment was made: replica-hours as Prometheus saw the pods, 15 s samples,
    # against this test's own timings (1 pod, then 3, then 1), within a sample per pod.
    since = body["since_start"]
    seen = steps.seen
    one_then = seen[f"Prometheus scrapes {want} servers"] - seen["Prometheus scrapes its server"]
    three = seen["1 pod left"] - seen[f"Prometheus scrapes {want} servers"]
    one_after = time.monotonic() - steps.began - seen["1 pod left"]
    expected_s = one_then + want * three + one_after
    print(
        f"  since start: {since['replica_hours'] * 3600:.0f} replica-seconds seen by "
        f"Prometheus, {expected_s:.0f} by the steps; spent ${since['spent_usd']:.4f}"
    )
    assert since["replica_hours"] * 3600 == pytest.approx(expected_s, abs=15 * (want + 1)), since
    # Priced by hand: the plan's one replica at its bill; saved nothing (never below plan).
    assert since["spent_usd"] == pytest.approx(since["replica_hours"] * bill)
    assert since["saved_usd"] == pytest.approx(
        max(0.0, since["hours"] - since["replica_hours"]) * bill
    )
    ttft = [p["ttft"]["p50"] for p in past if p["ttft"] and p["ttft"]["p50"] is not None]
    assert ttft, past
    assert all(0.02 <= t <= 0.5 for t in ttft), ttft  # the simulator's 40 ms
