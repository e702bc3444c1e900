"""Usage mistakes through the real entry point: every command × every kind of mistake prints
the usage and the mistake and exits 2: never "internal error", never a traceback.

The table names, per command, one mistake of each kind the command can have; a guard test
keeps it in step with the commands the application really has, so a new command cannot be
added without its row.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
import typer.main
from tests.support import cli

from kubefoundry import __version__
from kubefoundry.cli.app import app

# command → {kind of mistake: argv after the command}; None: the command cannot make that
# mistake (no option that takes a value, no typed option, no required argument).
MISTAKES: dict[str, dict[str, list[str] | None]] = {
    "catalog": {"missing value": ["--family"], "wrong type": ["-o", "xml"], "no args": None},
    "gpus": {"missing value": ["-o"], "wrong type": ["-o", "table"], "no args": None},
    "plan": {
        "missing value": ["llama-3.1-8b", "--gpu"],
        "wrong type": ["llama-3.1-8b", "--gpu-count", "two"],
        "no args": [],
    },
    "render": {
        "missing value": ["llama-3.1-8b", "--runtime"],
        "wrong type": ["llama-3.1-8b", "--replicas", "many"],
        "no args": [],
    },
    "estimate": {
        "missing value": ["--config"],
        "wrong type": ["--tensor-parallel", "two"],
        "no args": [],
    },
    "runtimes": {"missing value": ["-o"], "wrong type": ["-o", "xml"], "no args": None},
    "cluster": {"missing value": ["--context"], "wrong type": ["-o", "xml"], "no args": None},
    "deploy": {
        "missing value": ["llama-3.1-8b", "--tier"],
        "wrong type": ["llama-3.1-8b", "--timeout", "soon"],
        "no args": [],
    },
    "ls": {"missing value": ["-n"], "wrong type": ["-o", "xml"], "no args": None},
    "status": {"missing value": ["x", "-n"], "wrong type": ["x", "-o", "xml"], "no args": []},
    "logs": {
        "missing value": ["x", "--tail"],
        "wrong type": ["x", "--tail", "lots"],
        "no args": [],
    },
    "chat": {
        "missing value": ["x", "hi", "--max-tokens"],
        "wrong type": ["x", "hi", "--max-tokens", "many"],
        "no args": [],
    },
    "bench": {
        "missing value": ["x", "--requests"],
        "wrong type": ["x", "--concurrency", "many"],
        "no args": [],
    },
    "top": {"missing value": ["--interval"], "wrong type": ["--interval", "soon"], "no args": None},
    "update": {
        "missing value": ["x", "--tier"],
        "wrong type": ["x", "--replicas", "many"],
        "no args": [],
    },
    "scale": {"missing value": ["x", "2", "-n"], "wrong type": ["x", "two"], "no args": []},
    "delete": {"missing value": ["x", "-n"], "wrong type": None, "no args": []},
    "check": {"missing value": ["--crds"], "wrong type": ["x.yaml", "-o", "xml"], "no args": []},
    "serve": {"missing value": ["--port"], "wrong type": ["--port", "http"], "no args": None},
    "chart": {"missing value": ["-o"], "wrong type": None, "no args": None},
    "version": {"missing value": None, "wrong type": None, "no args": None},
    "sandbox up": {"missing value": ["--kubeconfig"], "wrong type": None, "no args": None},
    "sandbox down": {"missing value": None, "wrong type": None, "no args": None},
    "sandbox status": {"missing value": ["-o"], "wrong type": ["-o", "xml"], "no args": None},
}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return cli.kubefoundry(*args)


def _leaves(command: object, path: tuple[str, ...] = ()) -> Iterator[str]:
    children = getattr(command, "commands", None)
    if children:
        for name, child in children.items():
            yield from _leaves(child, (*path, name))
    else:
        yield " ".join(path)


def test_the_table_covers_every_command() -> None:
    assert set(_leaves(typer.main.get_command(app))) == set(MISTAKES)


def _cases() -> Iterator[object]:
    for command, kinds in MISTAKES.items():
        yield pytest.param(command, [*command.split(), "--no-such-option"], id=f"{command}-option")
        for kind, argv in kinds.items():
            if argv is not None:
                yield pytest.param(
                    command, [*command.split(), *argv], id=f"{command}-{kind.replace(' ', '-')}"
                )


def _assert_usage_error(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr
    assert "Error:" in result.stderr  # the mistake is said
    assert result.stdout == ""  # nothing that a pipe would take for data


@pytest.mark.parametrize(("command", "argv"), list(_cases()))
def test_usage_mistake_exits_2(command: str, argv: list[str]) -> None:
    result = run(*argv)
    _assert_usage_error(result)
    if argv[-1] == "--no-such-option":
        assert "No such option: --no-such-option" in result.stderr
        assert f"Usage: kubefoundry {command}" in result.stderr


@pytest.mark.parametrize("argv", [["plna"], ["sandbox", "upp"]])
def test_unknown_command_names_the_close_match(argv: list[str]) -> None:
    result = run(*argv)
    _assert_usage_error(result)
    assert f"No such command '{argv[-1]}'" in result.stderr
    assert "Did you mean" in result.stderr


def test_no_arguments_prints_the_usage_and_exits_2() -> None:
    result = run()
    assert result.returncode == 2
    assert "Usage: kubefoundry" in result.stdout + result.stderr
    assert "Commands:" in result.stdout + result.stderr


def test_version_flag() -> None:
    result = run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"kubefoundry {__version__}"


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["plan", "llama-3.1-8b", "--gpus", "H100"], "Possible options: --gpu"),
        (["plan", "llama-3.1-8b", "--gpu-count", "two"], "'--gpu-count'"),
        (["plan", "llama-3.1-8b", "--tier", "premium"], "'premium' is not one of"),
        (["render", "llama-3.1-8b", "--expose", "loadbalancer"], "'--expose'"),
    ],
)
def test_the_mistake_is_named(argv: list[str], said: str) -> None:
    result = run(*argv)
    _assert_usage_error(result)
    assert said in result.stderr
