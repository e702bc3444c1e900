"""``kubefoundry check`` as people run it: the real command in a subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml
from tests.support.rendering import CANARY

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "checks"


def run(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubefoundry.cli", "check", *args],
        capture_output=True,
        text=True,
        env=os.environ | {"COLUMNS": "200"} | env,
        input=stdin if stdin is not None else "",
        timeout=120,
        check=False,
    )


def test_clean_manifests_exit_0_with_a_summary() -> None:
    result = run(str(FIXTURES / "secret-inlined" / "fixed.yaml"))
    assert result.returncode == 0, result.stderr
    assert "0 errors, 0 warnings" in result.stdout
    assert "2 objects from 1 file." in result.stdout


def test_warnings_alone_exit_0() -> None:
    result = run(str(FIXTURES / "kaito-count-vs-replicas" / "bad.yaml"))
    assert result.returncode == 0, result.stderr
    assert "kaito-count-vs-replicas" in result.stdout
    assert "1 warning," in result.stdout


def test_errors_exit_1_with_the_table() -> None:
    result = run(str(FIXTURES / "parallelism-gpu-mismatch"))
    assert result.returncode == 1, result.stderr
    for text in ("parallelism-gpu-mismatch", "Deployment/qwen3-32b", "LeaderWorkerSet/vllm", "fix"):
        assert text in result.stdout
    assert re.search(r"\b[1-9]\d* errors?,", result.stdout)
    assert "Traceback" not in result.stdout + result.stderr


def test_json_parses_and_carries_every_field() -> None:
    result = run(str(FIXTURES / "unstable-api" / "bad.yaml"), "--json")
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["summary"] == {"errors": 1, "warnings": 1, "infos": 0, "objects": 2, "files": 1}
    first = data["findings"][0]
    assert first["rule"] == "unstable-api"
    assert first["severity"] == "error"
    assert first["object"] == "ExternalSecret/hf-token"
    assert first["file"].endswith("bad.yaml")
    assert first["document"] == 2
    assert first["line"]
    assert {"message", "fix", "path", "kind", "name", "namespace"} <= first.keys()


def test_malformed_yaml_exits_2_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n   labels: {a: b}\n")
    result = run(str(bad))
    assert result.returncode == 2
    assert f"{bad}:5" in result.stderr.replace("\n", "")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_unreadable_inputs_exit_2(tmp_path: Path) -> None:
    helm = tmp_path / "templates"
    helm.mkdir()
    (helm / "deploy.yaml").write_text("metadata:\n  name: {{ .Release.Name }}\n")
    for args, says in [
        ([str(tmp_path / "nope.yaml")], "No such file"),
        ([str(helm)], "helm template"),
        ([str(FIXTURES), "--ignore", "secret-inline"], "Did you mean: secret-inlined"),
        ([str(FIXTURES), "--crds", str(tmp_path / "no-such-dir")], "not a folder"),
    ]:
        result = run(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert says in result.stderr.replace("\n", " "), result.stderr
        assert "Traceback" not in result.stderr


def test_a_token_never_appears_in_text_or_json(tmp_path: Path) -> None:
    leaky = tmp_path / "leaky.yaml"
    leaky.write_text(
        yaml.safe_dump_all(
            [
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": "t"},
                    "stringData": {"token": CANARY},
                },
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "p"},
                    "spec": {
                        "containers": [
                            {
                                "name": "c",
                                "image": "x",
                                "env": [
                                    {"name": "HF_TOKEN", "value": CANARY},
                                    {"name": "OOPS", "value": [CANARY]},
                                ],
                            }
                        ]
                    },
                },
            ]
        )
    )
    for extra in ([], ["--json"]):
        result = run(str(leaky), *extra)
        assert result.returncode == 1
        assert "secret-inlined" in result.stdout
        assert CANARY not in result.stdout + result.stderr
        assert CANARY[3:] not in result.stdout + result.stderr


def test_cluster_facts_enable_the_selector_rule() -> None:
    case = FIXTURES / "selector-matches-no-node"
    without = run(str(case / "bad.yaml"), "--json")
    assert "selector-matches-no-node" not in without.stdout
    with_facts = run(str(case / "bad.yaml"), "--cluster", str(case / "facts.yaml"), "--json")
    assert with_facts.returncode == 1
    rules = {f["rule"] for f in json.loads(with_facts.stdout)["findings"]}
    assert "selector-matches-no-node" in rules


def test_crds_come_from_the_flag_or_the_environment(tmp_path: Path) -> None:
    bad = str(FIXTURES / "unstable-api" / "bad.yaml")
    for result in (
        run(bad, "--json", "--crds", str(tmp_path)),
        run(bad, "--json", KUBEFOUNDRY_CRDS=str(tmp_path)),
    ):
        data = json.loads(result.stdout)
        assert {f["rule"] for f in data["findings"]} == {"not-validated"}
        assert result.returncode == 0


def test_standard_input_is_read_when_asked() -> None:
    text = (FIXTURES / "secret-inlined" / "fixed.yaml").read_text()
    result = run("-", "--json", stdin=text)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["objects"] == 2
