"""The sandbox started through the API, as the page's button does (issue 10, the main job).

A server on a machine with no kubeconfig starts the real sandbox (``managing.up``: the
binaries are built once and cached, so this takes about half a minute) in its own state
folder (``XDG_STATE_HOME``), beside the session's; the test follows the progress stream to
``done``, sees the deployment routes answer with the sandbox's GPU pools, stops it, and the
server is back to no cluster with nothing left running.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kubefoundry.api.app import create_app
from kubefoundry.cluster.connecting import Target
from kubefoundry.sandbox import managing


@pytest.fixture
def fresh_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No kubeconfig, and the sandbox's state in a folder of this test's; whatever happens,
    nothing it started keeps running."""
    if shutil.which("go") is None:
        pytest.skip("the sandbox builds Kubernetes from Go modules; no Go toolchain on PATH")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    yield tmp_path
    managing.down()


@pytest.fixture
def client(fresh_machine: Path) -> Iterator[TestClient]:
    with TestClient(create_app(cluster=Target())) as test_client:
        page = test_client.get("/")  # the session and CSRF token the panel's script sends
        found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
        assert found, "the page carries no CSRF token for its scripts"
        test_client.headers["X-CSRF-Token"] = found[1]
        yield test_client


def follow(client: TestClient) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The progress events of the stream and its ``done`` state."""
    progress, done = [], None
    with client.stream("GET", "/api/v1/sandbox/stream", timeout=600) as answer:
        assert answer.status_code == 200
        name = None
        for line in answer.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
                if name == "done":
                    done = data
                else:
                    progress.append(data)
    assert done is not None, "the stream ended without done"
    return progress, done


def test_start_follow_deploy_target_and_stop_the_sandbox_through_the_api(
    client: TestClient,
) -> None:
    before = client.get("/api/v1/cluster/connection").json()
    assert before["connected"] is False
    assert before["offer_sandbox"] is True
    assert before["sandbox"] == {
        "state": "idle",
        "available": True,
        "unavailable": None,
        "error": None,
    }

    started = client.post("/api/v1/sandbox")
    assert started.status_code == 202, started.text
    progress, done = follow(client)
    assert done["state"] == "running", done
    assert progress
    lines = [p["line"] for p in progress]
    assert "kube-apiserver ready" in lines
    assert any(re.fullmatch(r"\d+ nodes Ready in \d+ pools", line) for line in lines), lines
    assert [p["elapsed_s"] for p in progress] == sorted(p["elapsed_s"] for p in progress)

    connection = client.get("/api/v1/cluster/connection").json()
    assert connection["connected"] is True, connection
    assert connection["source"] == "sandbox"
    assert connection["server"] == done["server"]
    assert connection["version"].startswith("v1.")
    status = managing.status()
    assert status["state"] == "up"
    assert Path(status["kubeconfig"]).is_relative_to(Path(os.environ["XDG_STATE_HOME"]))

    facts = client.get("/api/v1/cluster")
    assert facts.status_code == 200, facts.text
    pools = {p["name"]: p for p in facts.json()["facts"]["node_pools"]}
    assert (pools["l4"]["gpu"], pools["l4"]["nodes"]) == ("L4", 4)

    again = client.post("/api/v1/sandbox")
    assert again.status_code == 200
    assert again.json()["state"] == "running"

    pids = [p["pid"] for p in status["processes"].values()]
    stopped = client.delete("/api/v1/sandbox")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["stopped"] is True
    assert not [pid for pid in pids if _runs(pid)]
    assert managing.status() == {"state": "down"}
    after = client.get("/api/v1/cluster/connection").json()
    assert after == before
    assert client.get("/api/v1/cluster").status_code in (400, 503)


def _runs(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
