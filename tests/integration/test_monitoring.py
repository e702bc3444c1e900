"""Live metrics and test inference the way production reaches a model server from outside the
cluster network: through the API server's pod proxy, which dials the pod's own address
(issue 12).

- The sandbox's model servers (``sandbox/model_servers``: llm-d-inference-sim, a FAKE vLLM,
  in a network namespace holding each model-server pod's IP) answer ``kubefoundry chat``,
  and a load of requests shows in ``top``'s figures: requests, tokens and time to first token
  as the simulator reports them in vLLM's names.
- A TGI pod gets a FAKE server (``tests/support/pod_servers``) at its address that answers a
  real TGI /metrics sample (``tests/fixtures/metrics/tgi.prom``) whose request counter grows
  10 per scrape: TGI's names through the same path.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from tests.support import cli, controlplane, pod_servers
from tests.support.deploys import deploy, eventually

from kubefoundry.api.app import create_app
from kubefoundry.cluster import connecting, inspecting
from kubefoundry.cluster.connecting import Target
from kubefoundry.deploy import inference, monitoring
from kubefoundry.runtimes import tgi
from kubefoundry.sandbox import model_servers

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "metrics"


def _kf(plane: controlplane.ControlPlane, *args: str, columns: int = 200) -> tuple[int, str, str]:
    done = cli.kubefoundry(*args, "--kubeconfig", str(plane.kubeconfig), columns=columns)
    return done.returncode, done.stdout, done.stderr


def test_the_sandboxs_model_servers_answer_chat_and_top_sees_the_load(
    control_plane: controlplane.ControlPlane, conn: connecting.Connection, namespace: str
) -> None:
    why = model_servers.unavailable()
    if why:
        pytest.skip(f"the sandbox runs no model servers here: {why}")
    done = deploy(conn, model="qwen2.5-0.5b", runtime="vllm", gpu="L4", replicas=2)
    plan, name = done.result.plan, done.result.plan.name
    monitor = monitoring.Monitor(conn)

    def both_answer() -> bool:
        (seen,) = monitor.refresh(namespace=namespace, names=[name]) or [None]
        return seen is not None and seen.scraped == plan.replicas

    eventually(both_answer, timeout_s=90, what="both pods' model servers answering /metrics")

    code, out, err = _kf(
        control_plane, "chat", name, "Say hello.", "-n", namespace, "--max-tokens", "24"
    )
    assert code == 0, err
    assert out.strip(), err  # the simulator's words
    assert plan.model_id in err
    assert "TTFT" in err
    assert "tokens in" in err

    # Eight requests over the two pods' own endpoints, then one refresh: what they did.
    pods = [p["metadata"]["name"] for p in inspecting.pods(conn, name=name, namespace=namespace)]
    ends = [inference.Endpoint(namespace, pod, 8000, plan.model_id) for pod in pods]
    said: list[inference.Stats] = []

    def ask(where: inference.Endpoint) -> None:
        for _ in range(4):
            *_, stats = inference.chat(
                conn, where, [{"role": "user", "content": "hi"}], max_tokens=16
            )
            assert isinstance(stats, inference.Stats)
            said.append(stats)

    monitor.refresh(namespace=namespace, names=[name])  # after the CLI's request
    threads = [threading.Thread(target=ask, args=(e,)) for e in ends]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(said) == 8, said
    (seen,) = monitor.refresh(namespace=namespace, names=[name])
    r = seen.reading
    assert seen.scraped == 2
    assert r.servers == {"vllm"}
    assert r.interval_s is not None
    # The eight requests over the interval, no more (the CLI's came before it).
    assert r.requests_per_s == pytest.approx(8 / r.interval_s)
    assert r.output_tps == pytest.approx(sum(s.output_tokens for s in said) / r.interval_s)
    assert r.ttft is not None
    assert r.ttft.count == 8
    # The simulator waits its TTFT (model_servers.TTFT, 40 ms) before the first token.
    assert r.ttft.p50 is not None
    assert 0.02 <= r.ttft.p50 <= 0.5, r.ttft
    assert all(s.ttft_s is not None and s.ttft_s >= 0.04 for s in said), said
    assert seen.gpus == plan.replicas * plan.gpu_count
    # Cost: every planned GPU runs, so the plan's whole bill, split as the plan splits it
    # (its prompts' share of a replica's time on input); per 1M tokens, each part over the
    # interval's tokens, and the plan's over its predicted peak (by hand).
    bill = plan.cost.usd_per_hour_total
    assert bill is not None
    assert plan.performance is not None
    share = plan.performance.prefill_share
    assert 0 < share < 1
    assert seen.usd_per_hour == pytest.approx(bill)
    assert seen.usd_per_million_output_tokens == pytest.approx(
        bill * (1 - share) / (r.output_tps * 3600) * 1e6
    )
    assert r.prompt_tps is not None
    assert seen.usd_per_million_input_tokens == pytest.approx(
        bill * share / (r.prompt_tps * 3600) * 1e6
    )
    peak = plan.performance.output_tokens_per_s * plan.replicas
    assert seen.planned_usd_per_million_output_tokens == pytest.approx(
        bill * (1 - share) / (peak * 3600) * 1e6, rel=1e-3
    )
    prompts = plan.performance.input_tokens_per_s * plan.replicas
    assert seen.planned_usd_per_million_input_tokens == pytest.approx(
        bill * share / (prompts * 3600) * 1e6, rel=1e-3
    )

    # GPU time kept since the first refresh: all of it idle at each refresh (the requests
    # had ended when it looked), so the busy share is 0 and the idle GPU-hours all of it.
    assert seen.gpu_hours > 0
    assert (seen.busy_share, seen.idle_gpu_hours) == (0.0, pytest.approx(seen.gpu_hours))
    # Spent: those GPU-hours at the plan's price per GPU. Saved: the planned GPUs over the
    # window less those that ran (a pod not yet running at the first refreshes counts).
    per_gpu = bill / (plan.replicas * plan.gpu_count)
    assert seen.spent_usd == pytest.approx(seen.gpu_hours * per_gpu)
    planned = plan.replicas * plan.gpu_count * seen.window_hours
    assert seen.saved_usd == pytest.approx(per_gpu * (planned - seen.gpu_hours))
    assert 0 <= seen.saved_usd <= per_gpu * planned

    # bench: a bounded run, measured beside the speed model (shown, not judged).
    code, out, err = _kf(
        control_plane, "bench", name, "-n", namespace, "--requests", "6", "--concurrency", "2",
        "-o", "json",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert (result["requests"], result["failed"], result["no_prediction"]) == (6, 0, None)
    rows = {r["figure"]: r for r in result["rows"]}
    assert rows["output tokens/s"]["measured"] > 0
    assert rows["output tokens/s"]["peak"] > 0  # the plan's prediction for 2 L4 replicas
    assert rows["TTFT p50 (model: mean)"]["measured"] >= 40.0  # the simulator's 40 ms, at least
    assert "2 pod(s)" in err
    code, out, err = _kf(
        control_plane, "bench", name, "-n", namespace, "--requests", "2", columns=60
    )
    assert code == 0, err
    assert "TTFT" in out


def test_top_reads_tgis_names_through_the_pod_proxy(
    control_plane: controlplane.ControlPlane, conn: connecting.Connection, namespace: str
) -> None:
    done = deploy(conn, model="qwen2.5-0.5b", runtime="tgi", gpu="L4", replicas=1)
    name = done.result.plan.name
    sample = (FIXTURES / "tgi.prom").read_text()
    assert "\ntgi_request_count 111\n" in sample

    def metrics(_ip: str, scrapes: int) -> str:  # 10 more requests each scrape
        return sample.replace(
            "\ntgi_request_count 111\n", f"\ntgi_request_count {111 + 10 * scrapes}\n"
        )

    def address() -> str | None:
        pods = inspecting.pods(conn, name=name, namespace=namespace)
        return pods[0]["status"].get("podIP") if len(pods) == 1 else None

    eventually(lambda: address() is not None, timeout_s=120, what="the TGI pod's address")
    ip = address()
    assert ip is not None
    with pod_servers.serving([ip], tgi.PORT, metrics) as scrapes:
        now = [100.0]
        monitor = monitoring.Monitor(conn, clock=lambda: now[0])
        (first,) = monitor.refresh(namespace=namespace, names=[name])
        assert first.reading.requests_per_s is None  # one scrape: levels only
        now[0] = 110.0
        (seen,) = monitor.refresh(namespace=namespace, names=[name])
        assert scrapes[ip] == 2
        assert seen.reading.servers == {"tgi"}
        assert seen.reading.requests_per_s == pytest.approx(10 / 10.0)
        assert (seen.reading.kv_usage, seen.reading.ttft) == (None, None)  # TGI has neither

        # The CLI, over the same service: JSON, then the table in a narrow terminal.
        code, out, err = _kf(
            control_plane, "top", name, "-n", namespace, "--interval", "1", "-o", "json"
        )
        assert code == 0, err
        (row,) = json.loads(out)
        assert (row["name"], row["scraped"]) == (name, 1)
        assert 0 < row["reading"]["requests_per_s"] <= 10.0, row
        code, out, err = _kf(control_plane, "top", "-n", namespace, "--interval", "1", columns=60)
        assert code == 0, err
        assert name in out
        assert "Traceback" not in err
        # The namespace's totals: the TGI pod's one L4, priced by the plan.
        said = " ".join(out.split())
        assert f"All 1 deployment in namespace {namespace}: 1 GPUs" in said, out
        assert "/h" in said

    # Nothing answers any more: the pod's problem is said, the refresh does not fail.
    (gone,) = monitor.refresh(namespace=namespace, names=[name])
    assert gone.scraped == 0
    assert list(gone.problems) == [
        inspecting.pods(conn, name=name, namespace=namespace)[0]["metadata"]["name"]
    ]
    code, _, err = _kf(control_plane, "top", "nope", "-n", namespace, "--interval", "1")
    assert code != 0
    assert "Unknown deployment 'nope'" in err


def test_the_api_serves_a_deployments_metrics_and_streams_a_chat(
    control_plane: controlplane.ControlPlane, conn: connecting.Connection, namespace: str
) -> None:
    """The same two use cases over HTTP (the web UI's source): one refresh and the readings
    kept, and a chat completion as server-sent events."""
    why = model_servers.unavailable()
    if why:
        pytest.skip(f"the sandbox runs no model servers here: {why}")
    done = deploy(conn, model="qwen2.5-0.5b", runtime="vllm", gpu="L4", replicas=1)
    name = done.result.plan.name
    app = create_app(cluster=Target(kubeconfig=control_plane.kubeconfig, namespace=namespace))
    base = f"/api/v1/deployments/{namespace}/{name}"
    with TestClient(app) as web:

        def answers() -> bool:
            got = web.get(f"{base}/metrics")
            assert got.status_code == 200, got.text
            return bool(got.json()["now"].get("scraped"))

        eventually(answers, timeout_s=90, what="the model server answering /metrics")
        kept = len(web.get(f"{base}/metrics").json()["history"])

        with web.stream(
            "POST",
            f"{base}/chat",
            json={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 12},
        ) as answer:
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/event-stream")
            events = _events("".join(answer.iter_text()))
        names = [e for e, _ in events]
        assert names[0] == "endpoint"
        assert events[0][1]["model"] == done.result.plan.model_id
        assert "delta" in names
        assert names[-1] == "stats"
        stats = events[-1][1]
        assert stats["output_tokens"] == len([e for e in names if e == "delta"])
        assert stats["ttft_s"] >= 0.04  # the simulator's 40 ms

        after = web.get(f"{base}/metrics").json()
        # Its ScaledObject names the default Prometheus, which this cluster does not run:
        # the history is this server's own, and the page says why.
        assert after["history_source"] == "kept"
        assert after["history_problem"] == (
            "Prometheus at http://prometheus-operated.monitoring.svc:9090: no Service "
            "prometheus-operated in namespace monitoring."
        )
        assert len(after["history"]) == kept + 1
        assert after["now"]["reading"]["requests_per_s"] > 0  # the chat, in this interval
        assert web.get(f"/api/v1/deployments/{namespace}/nope/metrics").status_code == 404

        # The cost export a Prometheus scrapes: every planned GPU runs, so the plan's bill.
        exported = web.get("/api/v1/metrics", params={"namespace": namespace})
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/plain")
        got = {
            s.name: s
            for family in text_string_to_metric_families(exported.text)
            for s in family.samples
        }
        plan = done.result.plan
        cost = got["kubefoundry_deployment_cost_usd_per_hour"]
        assert cost.labels["deployment"] == name
        assert cost.labels["model"] == plan.model_id
        assert cost.value == pytest.approx(plan.cost.usd_per_hour_total)
        gpus = got["kubefoundry_deployment_gpus"].value
        assert gpus == plan.replicas * plan.gpu_count
        bad = web.post(f"{base}/chat", json={"messages": [], "max_tokens": 0})
        assert bad.status_code == 422


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out
