"""``kubefoundry estimate`` with a workload: the speed figures of the fixed interface (issue 9)."""

from __future__ import annotations

import json

import pytest
from tests.cli.test_cli import LLAMA, run

MEMORY = (
    "estimate",
    "--config",
    LLAMA,
    "--tensor-parallel",
    "1",
    "--gpu-memory-utilization",
    "0.9",
    "--max-model-len",
    "8192",
)
SPEED_KEYS = {"output_tokens_per_s", "requests_per_s", "ttft_ms", "tpot_ms", "concurrency"}
LENGTHS = ("--input-tokens", "512", "--output-tokens", "256")


@pytest.mark.parametrize(
    "load",
    [
        ("--concurrency", "1"),
        ("--concurrency", "16"),
        ("--concurrency", "max"),
        ("--request-rate", "1.5"),
    ],
)
def test_speed_figures_in_json(load: tuple[str, str]) -> None:
    result = run(*MEMORY, "--gpu", "L4", *LENGTHS, *load, "-o", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data.keys() >= SPEED_KEYS
    assert "kv_tokens" in data  # the memory interface is still there
    assert all(data[key] > 0 for key in SPEED_KEYS)
    if load[0] == "--concurrency" and load[1] != "max":
        assert data["concurrency"] == float(load[1])
    if load[0] == "--request-rate":
        assert data["requests_per_s"] == pytest.approx(1.5)


def test_more_concurrency_more_throughput() -> None:
    def tokens_per_s(n: str) -> float:
        result = run(*MEMORY, "--gpu", "H100", *LENGTHS, "--concurrency", n, "--json")
        assert result.returncode == 0, result.stderr
        value: float = json.loads(result.stdout)["output_tokens_per_s"]
        return value

    assert tokens_per_s("1") < tokens_per_s("8") < tokens_per_s("max")


def test_without_speed_flags_no_speed_figures() -> None:
    result = run(*MEMORY, "--gpu", "H100", "--json")
    assert result.returncode == 0, result.stderr
    assert not SPEED_KEYS & json.loads(result.stdout).keys()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["--gpu", "L4", "--input-tokens", "0", "--output-tokens", "5", "--concurrency", "1"],
            "--input-tokens",
        ),
        (
            ["--gpu", "L4", "--input-tokens", "5", "--output-tokens", "-3", "--concurrency", "1"],
            "--output-tokens",
        ),
        (["--gpu", "L4", *LENGTHS, "--concurrency", "4", "--request-rate", "2"], "not both"),
        (["--gpu", "L4", "--concurrency", "4"], "--input-tokens"),
        (["--gpu", "L4", "--input-tokens", "100", "--request-rate", "2"], "--output-tokens"),
        (["--gpu", "L4", *LENGTHS], "--concurrency"),
        (["--gpu", "L4", *LENGTHS, "--concurrency", "0"], "--concurrency"),
        (["--gpu", "L4", *LENGTHS, "--concurrency", "lots"], "--concurrency"),
        (["--gpu", "L4", *LENGTHS, "--request-rate", "0"], "--request-rate"),
        (["--gpu", "L4", *LENGTHS, "--request-rate", "-1"], "--request-rate"),
        (["--gpu-memory-gib", "22", *LENGTHS, "--concurrency", "1"], "--gpu"),
    ],
)
def test_bad_speed_input_names_the_flag_and_exits_2(args: list[str], needle: str) -> None:
    result = run(*MEMORY, *args, "--json")
    assert result.returncode == 2, result.stdout
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
