"""``kubefoundry sandbox`` where nothing needs building: clear errors, idempotent ``down``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def sandbox(
    tmp_path: Path, *args: str, path: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"XDG_STATE_HOME": str(tmp_path / "state"), "COLUMNS": "200"}
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "kubefoundry.cli", "sandbox", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_up_without_go_says_how_to_install_it(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = sandbox(tmp_path, "up", path=str(tmp_path / "empty"))
    assert result.returncode == 2
    assert "`go` is not on PATH" in result.stderr
    assert "https://go.dev/dl/" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # no kubeconfig path printed


def test_down_and_status_when_nothing_runs(tmp_path: Path) -> None:
    down = sandbox(tmp_path, "down")
    assert down.returncode == 0
    assert "nothing to stop" in down.stderr
    status = sandbox(tmp_path, "status", "-o", "json")
    assert status.returncode == 0
    assert json.loads(status.stdout) == {"state": "down"}
