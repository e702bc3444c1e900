"""A token value never comes back out: not in a message, a fix, a path, or JSON."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.rendering import CANARY
from tests.unit.checks.support import rules_of, run

from kubefoundry.checks import reading
from kubefoundry.checks.findings import Finding, Ref, Severity, mask, redact
from kubefoundry.core.errors import InvalidInputError

PASSWORD = "S3cretPassw0rd-not-hf-shaped"  # a credential with no recognisable shape


def _pod(env: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "leaky", "annotations": {"note": f"token is {CANARY}"}},
        "spec": {
            "selector": {"matchLabels": {"app": "leaky"}},
            "template": {
                "metadata": {"labels": {"app": "leaky", "bad-label": CANARY}},
                "spec": {
                    "containers": [
                        {
                            "name": "vllm",
                            "image": "vllm/vllm-openai:v0.10.1",
                            "args": ["--model", "Qwen/Qwen3-8B", f"--hf-token={CANARY}"],
                            "env": env,
                            **extra,
                        }
                    ]
                },
            },
        },
    }


def leaky_manifests() -> list[dict[str, Any]]:
    serve = yaml.safe_dump(
        {
            "applications": [
                {
                    "name": "a",
                    "import_path": "x:y",
                    "runtime_env": {"env_vars": {"HF_TOKEN": CANARY, "OTHER": f"x {CANARY}"}},
                }
            ]
        }
    )
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s"},
            "stringData": {"token": CANARY, "password": PASSWORD},
            "data": {"encoded": base64.b64encode(CANARY.encode()).decode()},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c"},
            "data": {"HF_TOKEN": CANARY, "inference_config.yaml": f"vllm:\n  hf-token: {CANARY}\n"},
        },
        _pod(
            [
                {"name": "HF_TOKEN", "value": CANARY},
                {"name": "API_KEY", "value": PASSWORD},
                {"name": "WRONG_TYPE", "value": [CANARY]},  # a schema error about the value
            ]
        ),
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayService",
            "metadata": {"name": "r"},
            "spec": {"serveConfigV2": serve, "rayClusterConfig": {"headGroupSpec": {}}},
        },
    ]


def _text(findings: list[Finding]) -> str:
    return json.dumps([f.to_dict() for f in findings]) + "".join(
        f"{f.message}{f.fix}{f.path}{f.ref}{f.ref.location}" for f in findings
    )


def test_tokens_are_found_and_never_printed() -> None:
    findings = run(leaky_manifests())
    assert {"secret-inlined", "ray-secret-in-runtime-env", "schema"} <= rules_of(findings)
    leaks = [f for f in findings if f.rule == "secret-inlined"]
    assert {f.ref.kind for f in leaks} >= {"Secret", "ConfigMap", "Deployment"}
    text = _text(findings)
    assert CANARY not in text
    assert CANARY[3:20] not in text  # not even a slice of it
    assert PASSWORD not in text
    assert "hf_…" in text  # masked, so a reader still sees what kind of value it was


def test_redaction_catches_values_rules_did_not_mask() -> None:
    ref = Ref(kind="Secret", name="s")
    leaked = Finding("x", Severity.ERROR, f"value {CANARY}", f"was {PASSWORD}", ref, f"a.{CANARY}")
    (clean,) = redact([leaked], [PASSWORD])
    assert CANARY not in _text([clean])
    assert PASSWORD not in _text([clean])
    assert mask(CANARY).startswith("hf_…")
    assert CANARY[3:] not in mask(CANARY)


def test_placeholders_are_not_secrets() -> None:
    docs = reading.read_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: hf-token}\n"
        "stringData: {hf_token: <your-hf-access-token-value>, token: '${HF_TOKEN}'}\n"
    )
    assert "secret-inlined" not in rules_of(run(docs))


def test_yaml_errors_do_not_quote_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"apiVersion: v1\nkind: Secret\nstringData:\n  token: {CANARY}: oops\n")
    with pytest.raises(InvalidInputError) as err:
        reading.read_paths([bad])
    assert CANARY not in str(err.value)
    assert "bad.yaml:4" in err.value.message
