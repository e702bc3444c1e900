"""One deployment spec (issue 10): the CLI's file and flags, the API's body, one set of defaults.

Checked here: a spec file and the same choices as flags build the same spec; every default of
the runtimes' ``Options`` is the spec's; a validation problem names the field and the value
given; the published JSON Schema is the model's and validates the documented examples; the
flags' ``--help`` defaults are the spec's.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from kubefoundry.cli import requesting
from kubefoundry.core import spec
from kubefoundry.core.errors import InvalidInputError
from kubefoundry.runtimes import base

ROOT = Path(__file__).resolve().parents[2]


def test_a_file_and_the_same_flags_build_the_same_spec(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(
        "model: llama-3.1-8b\ntier: good\nworkload:\n  profile: rag\n  requests_per_s: 4\n"
        "serving:\n  exposure: httproute\n  host: llm.example.com\n"
        "  token:\n    source: external-secret\n  cache:\n    enabled: false\n"
    )
    from_file = requesting.build(path)
    from_flags = requesting.build(
        None,
        model="llama-3.1-8b",
        tier="good",
        workload="rag",
        requests_per_second=4,
        expose="httproute",
        host="llm.example.com",
        token_source="external-secret",
        model_cache=False,
    )
    assert from_file == from_flags


def test_a_flag_overrides_the_file_and_leaves_its_other_fields(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("model: qwen3-8b\nserving:\n  exposure: ingress\n  host: a.example\n")
    got = requesting.build(path, host="b.example")
    assert (got.serving.exposure, got.serving.host) == ("ingress", "b.example")


def test_options_default_to_the_specs_defaults() -> None:
    """``Options()`` (what tests and callers without a spec use) is ``from_spec`` of a bare
    spec: the defaults are declared once, in core/spec."""
    bare = spec.DeploymentSpec(model="x")
    assert base.Options.from_spec(bare) == base.Options()


def test_options_carry_every_serving_field() -> None:
    given = spec.parse(
        {
            "model": "x",
            "hf_token_secret": "mine",
            "workload": {"profile": "batch"},
            "serving": {
                "exposure": "ingress",
                "host": "h",
                "gateway": "g",
                "monitoring": "podmonitor",
                "prometheus": "https://prom.example:9443/prometheus/",
                "token": {"source": "external-secret", "secret_store": "s", "remote_key": "k"},
                "cache": {"enabled": False, "size_gib": 50, "storage_class": "fast"},
                "disaggregated": True,
                "platform": "nvidia",
                "llm_inference_service": True,
                "multi_node": "native",
            },
        }
    )
    got = base.Options.from_spec(given)
    assert (got.exposure, got.host, got.gateway, got.monitoring) == (
        "ingress",
        "h",
        "g",
        "podmonitor",
    )
    assert (got.token.source, got.token.store, got.token.remote_key, got.token.secret_name) == (
        "external-secret",
        "s",
        "k",
        "mine",
    )
    assert dataclasses.astuple(got.cache)[:3] == (False, 50, "fast")
    assert (got.disaggregated, got.workload, got.platform) == (True, "batch", "nvidia")
    assert (got.llm_inference_service, got.multi_node) == (True, "native")
    assert got.prometheus == "https://prom.example:9443/prometheus"  # no trailing slash


@pytest.mark.parametrize(
    "url", ["prometheus:9090", "ftp://prom:9090", "http://", "http://prom 9090", "http://p?q=1"]
)
def test_a_prometheus_that_is_not_an_http_url_is_refused_in_the_validators_words(
    url: str,
) -> None:
    with pytest.raises(spec.SpecError) as caught:
        spec.parse({"model": "x", "serving": {"prometheus": url}})
    (problem,) = caught.value.problems
    assert problem.field == "serving.prometheus"
    assert problem.message.startswith("the URL of a Prometheus server")  # pydantic's prefix cut


def test_a_problem_names_the_field_and_the_value() -> None:
    with pytest.raises(spec.SpecError) as caught:
        spec.parse({"model": "x", "workload": {"input_tokens": 0}, "serving": {"exposure": "x"}})
    fields = {p.field: p.value for p in caught.value.problems}
    assert fields == {"workload.input_tokens": 0, "serving.exposure": "x"}
    assert "workload.input_tokens" in caught.value.message
    assert "(got 0)" in caught.value.message


def test_the_cli_words_a_flag_problem_with_the_flag_and_a_file_problem_with_the_field(
    tmp_path: Path,
) -> None:
    with pytest.raises(InvalidInputError) as flag:
        requesting.build(None, model="x", cache_size=0)
    assert "--cache-size" in flag.value.message
    assert "(got 0)" in flag.value.message
    path = tmp_path / "spec.yaml"
    path.write_text("model: x\nserving:\n  cache:\n    size_gib: 0\n")
    with pytest.raises(InvalidInputError) as field:
        requesting.build(path)
    assert str(path) in field.value.message
    assert "serving.cache.size_gib" in field.value.message
    assert "--cache-size" not in field.value.message


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("- model: x\n")
    with pytest.raises(InvalidInputError) as caught:
        spec.load(path)
    assert "not a deployment spec" in caught.value.message


def test_the_published_schema_is_the_models_and_takes_the_documented_spec() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "spec_schema.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    schema = json.loads((ROOT / "docs" / "deployment-spec.schema.json").read_text())
    for example in (ROOT / "examples" / "request.yaml", _documented()):
        document = yaml.safe_load(example.read_text() if isinstance(example, Path) else example)
        jsonschema.validate(document, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"model": "x", "serving": {"exposure": "nodeport"}}, schema)


def _documented() -> str:
    import re

    text = (ROOT / "docs" / "planning.md").read_text().split("## Deployment spec", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert match
    return match.group(1)


def test_help_shows_the_specs_defaults() -> None:
    """The flags print the spec's defaults as text (``--help`` stays free of pydantic)."""
    import typer.main

    from kubefoundry.cli.app import app

    command = typer.main.get_command(app)
    render = command.commands["render"]  # type: ignore[attr-defined]
    shown = {p.name: p.show_default for p in render.params}
    defaults = spec.ServingSpec()
    assert shown["expose"] == defaults.exposure
    assert shown["gateway"] == defaults.gateway
    assert shown["monitoring"] == defaults.monitoring
    assert shown["token_source"] == defaults.token.source
    assert shown["secret_store"] == defaults.token.secret_store
    assert shown["token_path"] == defaults.token.remote_key
    assert shown["multi_node"] == defaults.multi_node
