"""``kubefoundry sandbox up`` / ``down`` through the real command, as a newcomer runs them: a
second sandbox, in its own state folder (``XDG_STATE_HOME``), beside the session's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TIMEOUT_S = 600  # a first build of the binaries takes minutes; a cached one seconds


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    if shutil.which("go") is None:
        pytest.skip("`kubefoundry sandbox up` builds from Go modules; no Go toolchain on PATH")
    yield tmp_path / "state"
    sandbox(tmp_path / "state", "down")  # whatever happened, nothing keeps running


def sandbox(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return kubefoundry(state, "sandbox", *args)


def kubefoundry(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"XDG_STATE_HOME": str(state), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "kubefoundry.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT_S,
        check=False,
    )


def test_up_twice_then_down_twice(state: Path, tmp_path: Path) -> None:
    first = sandbox(state, "up")
    assert first.returncode == 0, first.stderr
    kubeconfig = Path(first.stdout.strip().splitlines()[-1])
    assert kubeconfig.is_file()
    assert "Sandbox up" in first.stderr
    assert "Traceback" not in first.stderr

    facts = kubefoundry(state, "cluster", "-o", "json", "--kubeconfig", str(kubeconfig))
    assert facts.returncode == 0, facts.stderr
    pools = {p["name"]: p for p in json.loads(facts.stdout)["node_pools"]}
    assert (pools["h100"]["gpu"], pools["h100"]["gpus_per_node"], pools["h100"]["nodes"]) == (
        "H100-80GB-SXM",
        8,
        2,
    )
    assert (pools["l4"]["gpu"], pools["l4"]["nodes"]) == ("L4", 4)

    again = sandbox(state, "up")
    assert again.returncode == 0, again.stderr
    assert "already up" in again.stderr
    assert again.stdout.strip().splitlines()[-1] == str(kubeconfig)

    copy = tmp_path / "elsewhere" / "kubeconfig"
    third = sandbox(state, "up", "--kubeconfig", str(copy))
    assert third.returncode == 0, third.stderr
    assert third.stdout.strip().splitlines()[-1] == str(copy)
    assert copy.read_text() == kubeconfig.read_text()

    status = json.loads(sandbox(state, "status", "-o", "json").stdout)
    assert status["state"] == "up"
    pids = [p["pid"] for p in status["processes"].values()]
    assert {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} <= set(
        status["processes"]
    )

    down = sandbox(state, "down")
    assert down.returncode == 0, down.stderr
    assert "Sandbox stopped" in down.stderr
    assert not [pid for pid in pids if _runs(pid)]
    assert not kubeconfig.exists()
    assert not copy.exists()  # the copy it wrote goes too

    twice = sandbox(state, "down")
    assert twice.returncode == 0, twice.stderr
    assert "nothing to stop" in twice.stderr
    assert json.loads(sandbox(state, "status", "-o", "json").stdout) == {"state": "down"}


def _runs(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
