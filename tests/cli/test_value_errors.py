"""Bad values are refused where they enter: the option (or request field) is named, the
message says what would be accepted, the exit code is 2, nothing is written, no traceback.

One row per value a user really typed wrong (issue 8), through the real entry point.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.conftest import CONFIGS
from tests.support import cli

LLAMA = str(CONFIGS / "meta-llama__Llama-3.1-8B-Instruct.json")
ESTIMATE = ["estimate", "--config", LLAMA, "--tensor-parallel", "1"]


def estimate(**flags: str) -> list[str]:
    values = {"--gpu": "H100", "--gpu-memory-utilization": "0.9", "--max-model-len": "8192"}
    values.update(flags)
    argv = list(ESTIMATE)
    for flag, value in values.items():
        if value != "":
            argv += [flag, value]
    return argv


# (argv, what the message must name, what it must say)
CASES = [
    (
        estimate(**{"--gpu-memory-utilization": "1.5"}),
        "--gpu-memory-utilization",
        "less than or equal to 1",
    ),
    (
        estimate(**{"--gpu-memory-utilization": "0"}),
        "--gpu-memory-utilization",
        "greater than or equal to 0.05",
    ),
    (estimate(**{"--max-model-len": "0"}), "--max-model-len", "greater than or equal to 1"),
    (
        [*estimate(), "--pipeline-parallel", "0"],
        "--pipeline-parallel",
        "greater than or equal to 1",
    ),
    ([*estimate(), "--block-size", "0"], "--block-size", "greater than or equal to 1"),
    (
        estimate(**{"--gpu": "", "--gpu-memory-gib": "-4"}),
        "--gpu-memory-gib",
        "greater than or equal to 1",
    ),
    (estimate(**{"--gpu-memory-gib": "80"}), "--gpu-memory-gib", "exactly one of"),
    (estimate(**{"--gpu": "H1000"}), "H1000", "Did you mean"),
    (estimate(**{"--kv-cache-dtype": "int4"}), "--kv-cache-dtype", "'int4' is not one of"),
    ([*estimate(), "--vllm-version", "latest"], "'latest'", "MAJOR.MINOR.PATCH"),
    (["plan", "llama-3.1-8b", "--replicas", "0"], "--replicas", "greater than or equal to 1"),
    (["plan", "llama-3.1-8b", "--gpu-count", "0"], "--gpu-count", "greater than or equal to 1"),
    (["plan", "llama-3.1-8b", "--gpu-count", "65"], "--gpu-count", "less than or equal to 64"),
    (
        ["plan", "llama-3.1-8b", "--context-length", "100"],
        "--context-length",
        "greater than or equal to 256",
    ),
    (["plan", "llama-3.1-8b", "--context-length", "1000000"], "1,000,000", "131072 or less"),
    (["plan", "llama-3.1-8b", "--cloud", "onprem"], "no price list", "--usd-per-gpu-hour"),
    (
        ["plan", "llama-3.1-8b", "--usd-per-gpu-hour", "-1"],
        "--usd-per-gpu-hour",
        "greater than or equal to 0.01",
    ),
    (["plan", "llama-3.1-8b", "--cloud", "moon"], "--cloud", "'moon' is not one of"),
    (["plan", "llama-3.1-8b", "--quantization", "nf4"], "--quantization", "is not one of"),
    (["plan", "llama-3.1-8b", "--gpu", "H1000"], "H1000", "Did you mean"),
    (["plan", "llama-3.1-8b", "--runtime", "vllmm"], "vllmm", "Did you mean"),
    (["plan", "llama-3.1-8bb"], "llama-3.1-8bb", "Did you mean"),
    (["render", "llama-3.1-8b", "--format", "zip"], "--format", "'zip' is not one of"),
    (["render", "llama-3.1-8b", "--expose", "lb"], "--expose", "'lb' is not one of"),
    (["render", "llama-3.1-8b", "--cache-size", "0"], "--cache-size", "greater than or equal to 1"),
    (["render", "llama-3.1-8b", "--format", "helm"], "--format helm", "-o DIR"),
    (["render", "llama-3.1-8b", "-o", "json"], "-o json", "directory"),
    (["render", "llama-3.1-8b", "-o", "helm"], "-o helm", "--format helm -o DIR"),
    (["plan", "llama-3.1-8b", "-o", "xml"], "--output", "'xml' is not one of"),
]


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return cli.kubefoundry(*argv, cwd=cwd)


@pytest.mark.parametrize(("argv", "names", "says"), CASES)
def test_bad_value_exits_2_naming_it(
    argv: list[str], names: str, says: str, tmp_path: Path
) -> None:
    result = run(argv, tmp_path)
    assert result.returncode == 2, (result.returncode, result.stderr[-1500:])
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr
    flat = " ".join(result.stderr.split())  # Rich wraps long messages
    assert names in flat
    assert says in flat
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []  # nothing written (render -o json: no ./json/)


@pytest.mark.parametrize(
    ("field", "value", "names"),
    [
        ("replicas", "0", "replicas"),
        ("gpu_count", "0", "gpu_count"),
        ("tier", "premium", "tier"),
        ("usd_per_gpu_hour", "-2", "usd_per_gpu_hour"),
        ("colour", "blue", "colour"),
    ],
)
def test_bad_request_file_field_exits_2_naming_it(
    field: str, value: str, names: str, tmp_path: Path
) -> None:
    request = tmp_path / "request.yaml"
    request.write_text(f"model: llama-3.1-8b\n{field}: {value}\n")
    result = run(["plan", "-f", str(request)], tmp_path)
    assert result.returncode == 2, result.stderr
    assert names in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_malformed_request_file(tmp_path: Path) -> None:
    request = tmp_path / "request.yaml"
    request.write_text("model: [unclosed\n")
    result = run(["plan", "-f", str(request)], tmp_path)
    assert result.returncode == 2
    assert str(request) in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_render_into_a_path_under_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    result = run(["render", "llama-3.1-8b", "-o", str(blocker / "out")], tmp_path)
    assert result.returncode == 2, result.stderr
    flat = " ".join(result.stderr.split())
    assert "Cannot write the export" in flat
    assert "Nothing was written" in flat
    assert blocker.read_text() == "not a directory\n"
