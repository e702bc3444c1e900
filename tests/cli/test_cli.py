"""The real ``kubefoundry`` command in a subprocess: the interfaces outside checks call."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.conftest import CONFIGS
from tests.support import cli

LLAMA = str(CONFIGS / "meta-llama__Llama-3.1-8B-Instruct.json")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return cli.kubefoundry(*args)


def test_estimate_interface() -> None:
    result = run(
        "estimate",
        "--config",
        LLAMA,
        "--gpu",
        "H100",
        "--tensor-parallel",
        "1",
        "--gpu-memory-utilization",
        "0.95",
        "--max-model-len",
        "8192",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"weights_gib", "kv_cache_gib", "kv_tokens", "max_concurrency"} <= data.keys()
    assert data["weights_gib"] == pytest.approx(14.99, abs=0.02)  # vLLM 0.19 logs 14.99
    assert data["kv_tokens"] == pytest.approx(476016, rel=0.01)  # and 476,016 tokens


def test_estimate_with_memory_and_all_flags() -> None:
    result = run(
        "estimate",
        "--config",
        LLAMA,
        "--gpu-memory-gib",
        "79.19",
        "--tensor-parallel",
        "2",
        "--pipeline-parallel",
        "1",
        "--gpu-memory-utilization",
        "0.9",
        "--max-model-len",
        "4096",
        "--dtype",
        "bf16",
        "--quantization",
        "fp8",
        "--kv-cache-dtype",
        "fp8",
        "--vllm-version",
        "0.16.0",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["quantization"] == "fp8"
    assert data["kv_cache_dtype"] == "fp8"
    assert data["tensor_parallel"] == 2


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--gpu", "H10"], "Did you mean"),
        (["--gpu", "H100", "--tensor-parallel", "3"], "Valid tensor-parallel sizes"),
        (["--gpu", "H100", "--gpu-memory-gib", "80"], "exactly one of"),
        (["--gpu", "H100", "--quantization", "nf4"], "'nf4' is not one of"),
        (["--gpu", "H100", "--dtype", "fp64"], "'fp64' is not one of"),
    ],
)
def test_estimate_bad_input_exits_2_without_traceback(args: list[str], needle: str) -> None:
    base = [
        "estimate",
        "--config",
        LLAMA,
        "--gpu-memory-utilization",
        "0.9",
        "--max-model-len",
        "4096",
        "--json",
    ]
    if "--tensor-parallel" not in args:
        base += ["--tensor-parallel", "1"]
    result = run(*base, *args)
    assert result.returncode == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_estimate_malformed_config(tmp_path: Path) -> None:
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    result = run(
        "estimate",
        "--config",
        str(bad),
        "--gpu",
        "L4",
        "--tensor-parallel",
        "1",
        "--gpu-memory-utilization",
        "0.9",
        "--max-model-len",
        "4096",
        "--json",
    )
    assert result.returncode == 2
    assert "not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_plan_json_and_table() -> None:
    result = run("plan", "llama-3.1-8b", "--tier", "good", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["model_id"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert plan["decisions"][0]["alternatives"]
    table = run("plan", "llama-3.1-8b", "--tier", "good")
    assert table.returncode == 0
    assert "instead of" in table.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["lama-3.1-8b-instruct", "--config", "/nonexistent/config.json"], "No such file"),
        (["llama-3.3-70b", "--gpu", "L4", "--gpu-count", "1"], "To fix: Try:"),
        (["llama-3.1-8b", "--tier", "gold"], "tier"),
        (["llama-3.1-8b", "--cluster", "/nonexistent.yaml"], "No such file"),
    ],
)
def test_plan_bad_input_exits_2(args: list[str], needle: str) -> None:
    result = run("plan", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_model_offline_suggests_catalog_names() -> None:
    result = run("plan", "lama-3.1-8b")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "llama" in result.stderr.lower()


def test_catalog_and_gpus_json() -> None:
    models = json.loads(run("catalog", "--json").stdout)
    assert len(models) >= 30
    families = {m["attention"] for m in models}
    assert {"gqa", "mla", "hybrid-sliding"} <= {f.removeprefix("moe+") for f in families}
    cards = json.loads(run("gpus", "--json").stdout)
    assert any(c["id"] == "H100-80GB-SXM" for c in cards)
