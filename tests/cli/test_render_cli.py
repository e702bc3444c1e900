"""``kubefoundry render`` in a subprocess: YAML on stdout, files with -o, clear refusals."""

from __future__ import annotations

from pathlib import Path

import yaml
from tests.cli.test_cli import run
from tests.support import rendering


def test_render_prints_valid_yaml_and_explains_on_stderr() -> None:
    result = run("render", "qwen2.5-7b", "--tier", "good", "--expose", "httproute")
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "HTTPRoute"} <= kinds
    assert rendering.schema_problems(docs) == []
    assert "runtime: vllm" in result.stderr
    assert "Traceback" not in result.stderr


def test_render_a_pinned_runtime_and_a_request_file(tmp_path: Path) -> None:
    request = tmp_path / "request.yaml"
    request.write_text("model: llama-3.1-405b\ngpu: H100\nname: big\nnamespace: team-a\n")
    result = run("render", "-f", str(request))
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert all(
        d["metadata"].get("namespace") == "team-a"
        for d in docs
        if d["kind"] != "ClusterServingRuntime"
    )
    assert any(d["kind"] == "LeaderWorkerSet" for d in docs)


def test_a_typo_in_the_runtime_suggests_the_right_one() -> None:
    result = run("render", "qwen2.5-7b", "--runtime", "kserv")
    assert result.returncode == 2
    assert "Did you mean: kserve" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_runtime_that_cannot_serve_the_plan_says_which_can() -> None:
    result = run("render", "llama-3.1-405b", "--gpu", "H100", "--runtime", "vllm")
    assert result.returncode == 2
    assert "multi-node" in result.stderr
    assert "lws" in result.stderr


def test_malformed_request_file_is_a_clear_error(tmp_path: Path) -> None:
    request = tmp_path / "request.yaml"
    request.write_text("model: [unclosed\n")
    result = run("render", "-f", str(request))
    assert result.returncode == 2
    assert "request.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_render_writes_each_format_to_a_directory(tmp_path: Path) -> None:
    for fmt in ("yaml", "helm", "kustomize"):
        out = tmp_path / fmt
        result = run("render", "qwen2.5-7b", "--format", fmt, "-o", str(out))
        assert result.returncode == 0, result.stderr
        assert any(out.rglob("*.yaml"))
    assert (tmp_path / "helm" / "Chart.yaml").exists()
    assert (tmp_path / "kustomize" / "kustomization.yaml").exists()


def test_render_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("not ours")
    result = run("render", "qwen2.5-7b", "-o", str(out))
    assert result.returncode == 2
    assert (out / "mine.txt").read_text() == "not ours"
