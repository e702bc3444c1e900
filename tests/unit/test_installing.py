"""KubeFoundry's own Helm chart (``kubefoundry chart``, ``deploy/installing.py``).

The real ``helm lint --strict`` and ``helm template`` (built by ``scripts/tools``, as the
export tests do) on the chart the CLI writes; the ClusterRole checked against what the
runtimes declare and what the product does. That the API server accepts the objects, and
that a server with only this ClusterRole works, is shown in
``tests/integration/test_auth_rbac.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from tests.support import cli

from kubefoundry.deploy import installing
from kubefoundry.runtimes import registry

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def helm() -> Path:
    if shutil.which("go") is None:
        pytest.skip("helm is built from Go modules by scripts/tools, and Go is not installed")
    done = subprocess.run(
        [str(REPO / "scripts" / "tools"), "helm"], capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(done.stdout.strip().splitlines()[-1])


def _helm(helm: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **{k: str(home / k) for k in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME")}}
    env["HELM_DATA_HOME"] = str(home / "data")
    return subprocess.run([str(helm), *args], capture_output=True, text=True, env=env, timeout=120)


def _objects(helm: Path, chart: Path, home: Path, *sets: str) -> list[dict[str, Any]]:
    extra = [a for s in sets for a in ("--set", s)]
    done = _helm(helm, home, "template", "kf", str(chart), "-n", "kubefoundry", *extra)
    assert done.returncode == 0, done.stderr
    return [o for o in yaml.safe_load_all(done.stdout) if o]


def test_the_cli_writes_a_chart_helm_lints_and_renders(helm: Path, tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    result = cli.kubefoundry("chart", "-o", str(chart))
    assert result.returncode == 0, result.stderr
    assert "helm install" in result.stderr
    assert {p.name for p in (chart / "templates").iterdir()} >= {
        "serviceaccount.yaml",
        "clusterrole.yaml",
        "clusterrolebinding.yaml",
        "deployment.yaml",
        "service.yaml",
        "networkpolicy.yaml",
    }
    lint = _helm(helm, tmp_path, "lint", "--strict", str(chart))
    assert lint.returncode == 0, lint.stdout + lint.stderr
    plain = _objects(helm, chart, tmp_path)
    assert "NetworkPolicy" not in {o["kind"] for o in plain}  # off unless asked
    with_policy = _objects(helm, chart, tmp_path, "networkPolicy.enabled=true")
    (policy,) = [o for o in with_policy if o["kind"] == "NetworkPolicy"]
    assert policy["spec"]["ingress"][0]["ports"] == [{"port": 8080, "protocol": "TCP"}]
    (deployment,) = [o for o in plain if o["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == [
        "serve", "--host", "0.0.0.0", "--port", "8080", "--auth", "kubernetes",
    ]  # fmt: skip
    assert container["image"].startswith(installing.IMAGE + ":")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "kf"
    again = cli.kubefoundry("chart", "-o", str(chart))  # our own chart: replaced in place
    assert again.returncode == 0, again.stderr
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.txt").write_text("mine")
    refused = cli.kubefoundry("chart", "-o", str(tmp_path / "theirs"))
    assert refused.returncode == 2
    assert "--force" in refused.stderr or "overwrite" in refused.stderr.lower()


def test_values_are_checked_by_the_schema(helm: Path, tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    installing.write(chart)
    for bad in ("replicas=two", "service.type=Internal", "image.tag=", "unknown=1"):
        done = _helm(helm, tmp_path, "template", "kf", str(chart), "--set", bad)
        assert done.returncode != 0, bad
        assert "schema" in done.stderr.lower() or "values" in done.stderr.lower(), done.stderr
    jsonschema.validate(installing.values(), json.loads((chart / "values.schema.json").read_text()))
    image = _objects(helm, chart, tmp_path, "image.repository=registry.local/kf", "image.tag=v9")
    (deployment,) = [o for o in image if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.local/kf:v9"


def test_the_server_role_reads_what_the_runtimes_declare_and_writes_nothing() -> None:
    rules = installing.server_rules()
    listed = {
        (g, r)
        for rule in rules
        if "list" in rule.verbs
        for g in rule.groups
        for r in rule.resources
    }
    for kind in registry.default().root_kinds():
        assert (kind.group, kind.plural) in listed, kind
    assert {("", "pods"), ("", "events"), ("", "nodes")} <= listed
    # Which operators run (deploy.controllers): their Leases and webhook endpoints; which
    # kinds are served comes from the discovery API, which needs no rule.
    assert {("coordination.k8s.io", "leases"), ("discovery.k8s.io", "endpointslices")} <= listed
    assert ("apiextensions.k8s.io", "customresourcedefinitions") not in listed
    verbs = {v for rule in rules for v in rule.verbs}
    assert verbs == {"create", "impersonate", "list", "watch"}
    creates = [(r.groups, r.resources) for r in rules if "create" in r.verbs]
    assert creates == [(("authentication.k8s.io",), ("tokenreviews",))]
    assert all("*" not in (*r.groups, *r.resources, *r.verbs) for r in rules)
    assert all(r.why for r in rules)
    setting = installing.settings_rule()
    assert setting.verbs == ("get",)
    assert setting.names == ("kubefoundry-settings",)


def test_the_deployer_role_covers_every_kind_a_runtime_renders() -> None:
    granted = {
        (g, r)
        for rule in installing.deployer_rules()
        if {"create", "patch", "get", "delete"} <= set(rule.verbs)
        for g in rule.groups
        for r in rule.resources
    }
    for kind in registry.default().kinds():
        assert (kind.group, kind.plural) in granted, kind
    assert ("", "secrets") in granted  # the token Secret, created as the user


def test_the_readme_and_notes_say_the_image_is_not_published(tmp_path: Path) -> None:
    files = installing.files()
    assert "Containerfile" in files["README.md"]
    assert "not published" in files["templates/NOTES.txt"]
    for rule in installing.server_rules():
        assert rule.why in files["README.md"]
        assert f"# {rule.why}" in files["templates/clusterrole.yaml"]
    assert (REPO / "Containerfile").exists()
