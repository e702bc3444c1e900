"""The README's commands run as written: every command line in its ``bash`` blocks that
needs no cluster is run by bash, from a workspace laid out like a clone (``../shared``
beside it), and exits as the README says (0, or the code its comment names: "exit 2").

Lines that need a cluster (the sandbox, deploy and what follows it, ``kubectl``) and the
test suite itself (``scripts/check``) are listed, not run: the integration tests cover them.
The plan shown at the top of the README is generated (``scripts/readme_example.py``); a test
keeps it equal to what the command prints.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
README = REPO / "README.md"
SERVER = re.compile(r"kubefoundry serve(?!.*--help)")  # runs until stopped: see below
NEEDS_CLUSTER = re.compile(r"\b(sandbox|deploy|ls|status|logs|delete|kubectl)\b|--kubeconfig")
LINKED = (".venv", "scripts", "src", "bench", "examples", "pyproject.toml", "requirements.lock")


def commands(text: str) -> list[str]:
    """The command lines of the README's ``bash`` blocks, continuations joined."""
    lines: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        joined = re.sub(r"\\\n\s*", "", block)
        lines += [line.strip() for line in joined.splitlines() if line.strip()]
    return [line for line in lines if not line.startswith("#")]


def expected_exit(line: str) -> int:
    found = re.search(r"#.*\bexit (\d+)", line)
    return int(found[1]) if found else 0


def runnable(line: str) -> bool:
    command = line.split("#", 1)[0]
    return (
        not NEEDS_CLUSTER.search(command)
        and not command.startswith("scripts/check")
        and not SERVER.search(command)
    )


TOUR = commands(README.read_text())


def test_the_readme_has_a_tour() -> None:
    run = [line for line in TOUR if runnable(line)]
    for needed in ("plan", "render", "estimate", "check", "catalog", "gpus", "runtimes"):
        assert any(f"kubefoundry {needed}" in line for line in run), needed


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder laid out like a clone with ``../shared`` beside it (links to the real ones),
    so the README's relative paths hold and what the commands write stays out of the repo."""
    root = tmp_path_factory.mktemp("tour")
    (root / "shared").symlink_to(SHARED)
    clone = root / "kubefoundry"
    clone.mkdir()
    for name in LINKED:
        (clone / name).symlink_to(REPO / name)
    return clone


@pytest.mark.parametrize("line", [line for line in TOUR if runnable(line)])
def test_readme_command_runs_as_written(line: str, workspace: Path) -> None:
    command = line.split("#", 1)[0].split("|", 1)[0].strip()  # the pipe's kubectl: no cluster
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
        env=os.environ | {"COLUMNS": "100"},
    )
    assert done.returncode == expected_exit(line), done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "internal error" not in done.stderr


def test_the_example_plan_is_what_the_command_prints() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "readme_example.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_first_command_serves_the_catalog_and_offers_a_sandbox(
    workspace: Path, tmp_path: Path
) -> None:
    """The set-up's first line, as written, on a machine with no cluster (an empty HOME, no
    KUBECONFIG): the server starts, the catalog page lists every model, offers the sandbox,
    and the API answers; then it is stopped. Only the port is moved (KUBEFOUNDRY_PORT), so
    it cannot collide with anything on this machine."""
    import socket
    import time
    import urllib.error
    import urllib.request

    from kubefoundry.catalog import models

    first = next(line for line in TOUR if SERVER.search(line))
    assert TOUR.index(first) == 0, "the README's first command is the server"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    proc = subprocess.Popen(
        ["bash", "-c", first.split("#", 1)[0]],
        cwd=workspace,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env | {"HOME": str(tmp_path), "KUBEFOUNDRY_PORT": str(port), "COLUMNS": "100"},
        start_new_session=True,
    )
    try:
        page = ""
        for _ in range(600):
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
                    page = answer.read().decode()
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        assert page, "the server did not answer within 60 s"
        every = models.ModelCatalog.load().all()
        assert all(f'href="/models/{e.id}"' in page for e in every)
        assert "Start a sandbox" in page or "The sandbox cannot start here" in page
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/models", timeout=5) as api:
            assert len(json.load(api)) == len(every)
    finally:
        os.killpg(proc.pid, 15)
        _, err = proc.communicate(timeout=20)
    assert "Traceback" not in err
    assert "No kubeconfig" in err, err[-2000:]


def test_every_image_the_readme_shows_exists() -> None:
    """The screenshots the browser tests write (KUBEFOUNDRY_SCREENSHOTS=1) and the README
    shows: none missing, none a stub."""
    shown = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README.read_text())
    assert len(shown) >= 16
    for path in shown:
        image = REPO / path
        assert image.is_file(), path
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
        assert image.stat().st_size > 10_000, path
