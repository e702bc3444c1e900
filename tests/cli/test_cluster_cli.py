"""The real ``kubefoundry`` command with a cluster out of reach: every command that talks to
Kubernetes says which server and context failed, why, and how to fix it; exit 2, never an
internal error or a traceback. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.cli.test_cli import run
from tests.support import endpoints

COMMANDS = [
    ("ls",),
    ("cluster",),
    ("deploy", "qwen2.5-7b"),
    ("status", "qwen"),
    ("logs", "qwen"),
    ("delete", "qwen", "--yes"),
]


def assert_clear_error(stderr: str) -> None:
    assert "Error: " in stderr
    assert "To fix: " in stderr
    assert "internal error" not in stderr
    assert "Traceback" not in stderr


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    server = f"https://127.0.0.1:{endpoints.closed_port()}"
    return endpoints.kubeconfig(tmp_path_factory.mktemp("kc") / "kubeconfig", server), server


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_closed_port_is_a_clear_error(closed: tuple[Path, str], command: tuple[str, ...]) -> None:
    kubeconfig, server = closed
    began = time.monotonic()
    result = run(*command, "--kubeconfig", str(kubeconfig))
    took = time.monotonic() - began
    assert result.returncode == 2, result.stderr
    assert_clear_error(result.stderr)
    said = " ".join(result.stderr.split())  # Rich wraps long lines
    assert f"Cannot reach the Kubernetes API server {server} (context kf-test): connection" in said
    assert "refused." in said
    assert "cluster-info" in said
    print(f"{command[0]}: {took:.1f}s to the error (including start-up)")


def test_an_unknown_context_suggests_the_close_one(closed: tuple[Path, str]) -> None:
    kubeconfig, _ = closed
    result = run("ls", "--kubeconfig", str(kubeconfig), "--context", "kf-tset")
    assert result.returncode == 2
    assert_clear_error(result.stderr)
    said = " ".join(result.stderr.split())
    assert "Unknown kubeconfig context 'kf-tset'. Did you mean: kf-test?" in said
    assert "has 1 context: kf-test" in said


def test_a_missing_kubeconfig_says_where_it_looked(tmp_path: Path) -> None:
    result = run("status", "qwen", "--kubeconfig", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert_clear_error(result.stderr)
    said = " ".join(result.stderr.split())
    assert f"No kubeconfig at {tmp_path / 'nope'} (--kubeconfig)" in said
    assert "sandbox up" in said


@pytest.mark.parametrize(
    ("content", "words"),
    [("clusters: [\n", "is not valid YAML (line 2)"), ("- a\n", "is not a kubeconfig")],
    ids=["not-yaml", "not-a-mapping"],
)
def test_a_malformed_kubeconfig_says_so(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(content)
    result = run("ls", "--kubeconfig", str(path))
    assert result.returncode == 2
    assert_clear_error(result.stderr)
    assert words in " ".join(result.stderr.split())


def test_deploy_timeout_help_names_its_default() -> None:
    result = run("deploy", "--help")
    assert result.returncode == 0
    said = " ".join(result.stdout.split())
    assert "Seconds to wait for ready." in said
    assert "the plan's startup budget" in said
    assert "wait ." not in said
