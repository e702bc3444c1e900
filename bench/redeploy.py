"""Print how long a no-op re-deploy takes through the real command, and what discovery reads.

    python bench/redeploy.py [--kubeconfig PATH] [--runs N]

Without ``--kubeconfig`` it starts a sandbox control plane in a temporary folder (the same
``kubefoundry.sandbox`` start the integration tests use, with the packaged CRDs) and stops
it at the end; with one (e.g. ``kubefoundry sandbox up``'s) it uses that cluster and deletes
only the namespace it made. It deploys a small model with ``kubefoundry deploy`` (a new
process each time, as a user types it: Python start-up, imports, discovery, plan, render,
checks, apply and a watch that finds it ready), waits until it is ready, then deploys the same
thing again ``--runs`` times, each a no-op. It prints the median and range of those
re-deploys, the start-up of ``kubefoundry --help`` for scale, and, in process, the time and
bytes of one discovery (``discovering.discover``) cold and warm (what this process cached).
Goal (issue 11): a no-op re-deploy in about a second. Nothing here asserts: it prints figures.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client, config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sandbox import cluster
from kubefoundry.cluster import connecting
from kubefoundry.deploy import discovering

KUBEFOUNDRY = Path(sys.executable).parent / "kubefoundry"
GOAL_S = 1.0


def run(*args: str) -> float:
    began = time.perf_counter()
    done = subprocess.run([str(KUBEFOUNDRY), *args], capture_output=True, text=True, check=False)
    took = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"kubefoundry {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return took


class Counting:
    """Counts the bytes of every response body the client reads (discovery's cost)."""

    def __init__(self, api: Any) -> None:
        self.bytes = 0
        self.requests = 0
        pool = api.rest_client.pool_manager
        original = pool.request

        def request(*args: Any, **kwargs: Any) -> Any:
            answer = original(*args, **kwargs)
            self.requests += 1
            self.bytes += len(answer.data or b"")
            return answer

        pool.request = request


def discovery(kubeconfig: Path, namespace: str) -> list[str]:
    target = connecting.Target(kubeconfig=kubeconfig, namespace=namespace)
    conn = connecting.connect(target)
    lines = []
    try:
        counted = Counting(conn.api)
        for label in ("cold", "warm", "warm"):
            before_b, before_n = counted.bytes, counted.requests
            began = time.perf_counter()
            discovering.discover(conn)
            took = time.perf_counter() - began
            lines.append(
                f"{'discovery, in process, ' + label:44} {took * 1000:7.0f} ms "
                f"{counted.requests - before_n:4d} requests "
                f"{(counted.bytes - before_b) / 1e6:7.2f} MB"
            )
    finally:
        conn.close()
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", type=Path, help="use this cluster (else a sandbox)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    namespace = f"kf-bench-{uuid.uuid4().hex[:6]}"
    with cluster(args.kubeconfig) as kubeconfig:
        api = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
        deploy = (
            "deploy", "qwen2.5-0.5b", "--runtime", "vllm", "--gpu", "L4", "--replicas", "1",
            "--monitoring", "none", "--no-model-cache", "-n", namespace,
            "--kubeconfig", str(kubeconfig), "--timeout", "120",
        )  # fmt: skip
        try:
            first = run(*deploy)
            print(f"first deploy (applied, then ready) in {first:.2f}s", file=sys.stderr)
            again = [run(*deploy) for _ in range(args.runs)]
            startup = [run("--help") for _ in range(3)]
            found = discovery(kubeconfig, namespace)
        finally:
            core.delete_namespace(namespace)
            api.close()
    verdict = "meets" if statistics.median(again) <= GOAL_S * 1.2 else "misses"
    print(
        f"{'no-op re-deploy (a new process each)':44} {statistics.median(again):7.2f} s median "
        f"({min(again):.2f}-{max(again):.2f} s, {len(again)} runs)  goal about "
        f"{GOAL_S:.0f} s ({verdict})"
    )
    print(f"{'kubefoundry --help (start-up alone)':44} {statistics.median(startup):7.2f} s median")
    for line in found:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
