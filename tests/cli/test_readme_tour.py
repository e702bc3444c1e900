"""The README's commands run as written: every command line in its ``bash`` blocks that
needs no cluster is run by bash, from a workspace laid out like a clone (``../shared``
beside it), and exits as the README says (0, or the code its comment names: "exit 2").

Lines that need a cluster (the sandbox, deploy and what follows it, ``kubectl``) and the
test suite itself (``scripts/check``) are listed, not run: the integration tests cover them.
The plan shown at the top of the README is generated (``scripts/readme_example.py``); a test
keeps it equal to what the command prints.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
README = REPO / "README.md"
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
    return not NEEDS_CLUSTER.search(command) and not command.startswith("scripts/check")


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
