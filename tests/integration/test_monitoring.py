"""Live metrics the way production reads them without a Prometheus: the API server's pod
proxy dials each pod's own address (issue 12). FAKE model servers (``tests/support/
pod_servers``) answer at the kwok pods' addresses with a real vLLM V1 /metrics sample
(``tests/fixtures/metrics/vllm.prom``) whose prompt-token counter grows 500 per scrape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support import cli, controlplane, pod_servers
from tests.support.deploys import deploy, eventually

from kubefoundry.cluster import connecting, inspecting
from kubefoundry.deploy import monitoring
from kubefoundry.runtimes.common import engine

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "metrics" / "vllm.prom"
PROMPT = 'vllm:prompt_tokens_total{engine="0",model_name="Qwen/Qwen2.5-3B-Instruct"} '
STEP = 500.0  # prompt tokens per scrape


def _metrics(ip: str, scrapes: int) -> str:
    text = FIXTURE.read_text()
    assert f"{PROMPT}228.0\n" in text
    return text.replace(f"{PROMPT}228.0\n", f"{PROMPT}{228.0 + STEP * scrapes}\n")


def _kf(plane: controlplane.ControlPlane, *args: str, columns: int = 200) -> tuple[int, str, str]:
    done = cli.kubefoundry(*args, "--kubeconfig", str(plane.kubeconfig), columns=columns)
    return done.returncode, done.stdout, done.stderr


def test_top_reads_every_pod_through_the_pod_proxy(
    control_plane: controlplane.ControlPlane, conn: connecting.Connection, namespace: str
) -> None:
    done = deploy(conn, model="qwen2.5-0.5b", runtime="vllm", gpu="L4", replicas=2)
    plan, name = done.result.plan, done.result.plan.name

    def addresses() -> dict[str, str]:
        pods = inspecting.pods(conn, name=name, namespace=namespace)
        ready = {p["status"].get("podIP"): p["metadata"]["name"] for p in pods}
        return {ip: pod for ip, pod in ready.items() if ip} if len(pods) == plan.replicas else {}

    eventually(lambda: len(addresses()) == plan.replicas, timeout_s=120, what="pod addresses")
    ips = addresses()
    with pod_servers.serving(sorted(ips), engine.PORT, _metrics) as scrapes:
        now = [100.0]
        monitor = monitoring.Monitor(conn, clock=lambda: now[0])
        (first,) = monitor.refresh(namespace=namespace, names=[name])
        assert first.reading.prompt_tps is None  # one scrape: levels only
        now[0] = 110.0
        (seen,) = monitor.refresh(namespace=namespace, names=[name])
        assert all(scrapes[ip] == 2 for ip in ips), scrapes
        assert (seen.pods, seen.scraped, dict(seen.problems)) == (2, 2, {})
        assert seen.reading.servers == {"vllm"}
        # Two pods, each 500 prompt tokens more over 10 s.
        assert seen.reading.prompt_tps == pytest.approx(2 * STEP / 10.0)
        assert seen.reading.running == 0.0
        assert seen.gpus == plan.replicas * plan.gpu_count

        # The CLI, over the same service: JSON, then the table in a narrow terminal.
        code, out, err = _kf(
            control_plane, "top", name, "-n", namespace, "--interval", "1", "-o", "json"
        )
        assert code == 0, err
        (row,) = json.loads(out)
        assert (row["name"], row["pods"], row["scraped"]) == (name, 2, 2)
        # 2 x 500 tokens over a little more than the one second between the scrapes.
        assert 500.0 < row["reading"]["prompt_tps"] <= 2 * STEP, row
        code, out, err = _kf(control_plane, "top", "-n", namespace, "--interval", "1", columns=60)
        assert code == 0, err
        assert name in out
        assert "Traceback" not in err

    # Nothing answers any more: each pod's problem is said, the refresh does not fail.
    (gone,) = monitor.refresh(namespace=namespace, names=[name])
    assert gone.scraped == 0
    assert set(gone.problems) == set(ips.values())
    code, _, err = _kf(control_plane, "top", "nope", "-n", namespace, "--interval", "1")
    assert code != 0
    assert "Unknown deployment 'nope'" in err
