"""Print how fast the REST API lists 1,000 deployments from the watch cache, and how fast it
serves the catalog page.

    python bench/api_deployments.py [--kubeconfig PATH] [--deployments N] [--requests N]

Without ``--kubeconfig`` it starts a sandbox control plane in a temporary folder (the same
``kubefoundry.sandbox`` start the integration tests use: etcd, kube-apiserver, controllers,
kwok) and stops it at the end; with one (e.g. ``kubefoundry sandbox up``'s) it uses that
cluster and deletes only the namespaces it made. It applies N root objects (vLLM-style
Deployments labelled as ours with a plan summary, 0 replicas so no pods) across four
namespaces, waits until the app's watch cache holds them all, then times
``GET /api/v1/deployments?all_namespaces=true`` and ``GET /`` through the real application
in process (Starlette's TestClient: no socket, the full middleware, routing, validation and
JSON encoding): median and p95 of ``--requests`` each. Goals (issue 10): the list under
200 ms, the catalog page under 100 ms. Nothing here asserts: it prints figures.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from fastapi.testclient import TestClient
from kubernetes import client, config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sandbox import cluster
from kubefoundry.api.app import create_app
from kubefoundry.cluster.connecting import Target
from kubefoundry.core import identity

GOALS_S = {"list": 0.200, "catalog": 0.100}


def root(name: str, namespace: str) -> dict[str, Any]:
    summary = identity.PlanSummary(
        model="Qwen/Qwen2.5-1.5B-Instruct", tier="better", gpu="1xL4", replicas=1,
        engine="vllm 0.19.0", usd_per_hour=0.71,
    )  # fmt: skip
    labels = {identity.MANAGED_BY: identity.OURS, identity.DEPLOYMENT: name}
    labels[identity.RUNTIME] = "vllm"
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
            "replicas": 0,
            "selector": {"matchLabels": {identity.DEPLOYMENT: name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.19.0"}]},
            },
        },
    }


def apply_roots(api: client.ApiClient, namespaces: list[str], count: int) -> float:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    for namespace in namespaces:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    wanted = [(namespaces[i % len(namespaces)], f"model-{i:04d}") for i in range(count)]
    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        # The client takes plain dicts too (it serialises either); its stubs say models only.
        done = pool.map(
            lambda w: apps.create_namespaced_deployment(w[0], cast(Any, root(w[1], w[0]))), wanted
        )
        for _ in done:
            pass
    return time.perf_counter() - began


def timed(call: Callable[[], Any], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        out.append(time.perf_counter() - began)
    return out


def line(name: str, runs: list[float], goal_s: float) -> str:
    ordered = sorted(runs)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    median = statistics.median(ordered)
    verdict = "meets" if p95 < goal_s else "misses"
    return (
        f"{name:44} {median * 1000:7.1f} ms {p95 * 1000:7.1f} ms   goal < {goal_s * 1000:.0f} ms "
        f"({verdict} at p95)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", type=Path, help="use this cluster (else a sandbox)")
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    tag = uuid.uuid4().hex[:6]
    namespaces = [f"kf-bench-{tag}-{i}" for i in range(4)]
    with cluster(args.kubeconfig) as kubeconfig:
        api = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        try:
            took = apply_roots(api, namespaces, args.deployments)
            print(f"applied {args.deployments} root objects in {took:.1f}s", file=sys.stderr)
            app = create_app(cluster=Target(kubeconfig=kubeconfig))
            with TestClient(app) as http:
                ours = set(namespaces)

                def listed() -> int:
                    answer = http.get("/api/v1/deployments", params={"all_namespaces": True})
                    answer.raise_for_status()
                    return sum(d["namespace"] in ours for d in answer.json()["deployments"])

                began = time.perf_counter()
                while listed() < args.deployments:
                    time.sleep(0.05)
                print(
                    f"the watch cache held them {time.perf_counter() - began:.2f}s after the "
                    "first request (list + watch of every root kind, pods, events)",
                    file=sys.stderr,
                )
                rows = len(
                    http.get("/api/v1/deployments?all_namespaces=true").json()["deployments"]
                )
                listing = timed(
                    lambda: http.get("/api/v1/deployments?all_namespaces=true").raise_for_status(),
                    args.requests,
                )
                catalog = timed(lambda: http.get("/").raise_for_status(), args.requests)
        finally:
            core = client.CoreV1Api(api)
            for namespace in namespaces:
                core.delete_namespace(namespace)
            api.close()
    print(f"{'request (in-process client)':44} {'median':>10} {'p95':>10}")
    print(line(f"GET /api/v1/deployments ({rows} rows)", listing, GOALS_S["list"]))
    print(line("GET / (the catalog page)", catalog, GOALS_S["catalog"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
