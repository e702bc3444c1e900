"""Export for GitOps: plain YAML, a generic Helm chart, a kustomize base, the TGI seed chart.

The Helm and kustomize tests run the real tools, built from the Go module proxy by
``scripts/tools`` into a cache outside the repository (minutes the first time, then reused).
They skip only where Go is missing.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from tests.support import rendering

from kubefoundry.core.errors import InvalidInputError, KubeFoundryError, Remedy
from kubefoundry.planning.plans import Plan
from kubefoundry.runtimes import base, export, tgi, vllm
from kubefoundry.runtimes.export import placing, tgitemplates

REPO = Path(__file__).resolve().parents[2]
VAULT = base.Options(
    exposure="httproute", host="llm.example.com", token=base.TokenOptions(source="external-secret")
)
EXTRA_CHART_LABELS = (tgitemplates.ENVIRONMENT_LABEL, tgitemplates.CATALOG_LABEL)


# ---------------------------------------------------------------- tools


def _build_tool(name: str) -> Path:
    if shutil.which("go") is None:
        pytest.skip(f"{name} is built from Go modules by scripts/tools, and Go is not installed")
    done = subprocess.run(
        [str(REPO / "scripts" / "tools"), name], capture_output=True, text=True, timeout=1800
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/tools {name} failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def helm_bin() -> Path:
    return _build_tool("helm")


@pytest.fixture(scope="session")
def kustomize_bin() -> Path:
    return _build_tool("kustomize")


def _run(args: list[str], *, home: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **{k: str(home / k) for k in _HELM_HOMES}}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    if check and done.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done


_HELM_HOMES = ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")


def _helm_template(
    helm: Path,
    chart: Path,
    *,
    home: Path,
    namespace: str,
    extra: Iterable[str] = (),
    lint: bool = True,
) -> list[dict[str, Any]]:
    if lint:
        _run([str(helm), "lint", "--strict", str(chart), "--namespace", namespace], home=home)
    done = _run(
        [str(helm), "template", "release", str(chart), "--namespace", namespace, *extra],
        home=home,
    )
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def _key(m: dict[str, Any]) -> tuple[str, str]:
    return (m["kind"], m["metadata"]["name"])


def _by_key(manifests: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {_key(m): m for m in manifests}


# ---------------------------------------------------------------- plans


def _tgi_plan(model: str = "llama-3.1-8b", **pins: Any) -> Plan:
    pins = {"tier": "better", "gpu": "L4", "cloud": "gcp", "namespace": "llm", **pins}
    return rendering.plan(model, **pins)


def _rendered(plan: Plan, options: base.Options = VAULT) -> base.Rendered:
    return tgi.TgiRuntime().render(plan, options)


# ---------------------------------------------------------------- plain YAML


def test_yaml_is_one_stably_named_file_per_object(tmp_path: Path) -> None:
    plan = _tgi_plan()
    out = _rendered(plan)
    written = export.write(out.manifests, fmt="yaml", directory=tmp_path / "o", name=plan.name)
    assert [p.name for p in written][:2] == [
        f"00-deployment-{plan.name}.yaml",
        f"01-service-{plan.name}.yaml",
    ]
    assert len(written) == len(out.manifests)
    assert [yaml.safe_load(p.read_text()) for p in written] == list(out.manifests)
    again = export.files(out.manifests, fmt="yaml", name=plan.name)
    assert {p.name: p.read_text() for p in written} == again
    on_disk = {p.name for p in (tmp_path / "o").iterdir()}
    assert on_disk == {p.name for p in written} | {placing.MARKER}


# ---------------------------------------------------------------- placing


def test_a_foreign_non_empty_directory_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    plan = _tgi_plan()
    with pytest.raises(InvalidInputError, match="not empty") as err:
        export.write(_rendered(plan).manifests, fmt="yaml", directory=tmp_path, name=plan.name)
    assert err.value.remedies == (Remedy.OVERWRITE,)  # the CLI words it --force
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_overwrite_writes_into_a_foreign_directory_and_keeps_other_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    plan = _tgi_plan()
    manifests = _rendered(plan).manifests
    export.write(manifests, fmt="yaml", directory=tmp_path, name=plan.name, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert placing.owned_files(tmp_path) == set(export.files(manifests, fmt="yaml", name="x"))


def test_re_export_replaces_our_files_and_removes_stale_ones(tmp_path: Path) -> None:
    target = tmp_path / "gitops" / "app"
    plan = _tgi_plan()
    export.write(_rendered(plan).manifests, fmt="kustomize", directory=target, name=plan.name)
    (target / "README.md").write_text("a person's file")
    fewer = _rendered(plan, base.Options(monitoring="none", pdb=False)).manifests
    written = export.write(fewer, fmt="helm", directory=target, name=plan.name)
    names = {str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()}
    expected = {str(p.relative_to(target)) for p in written}
    assert names == expected | {placing.MARKER, "README.md"}
    assert not (target / "kustomization.yaml").exists()


def test_a_new_directory_appears_whole_and_nothing_is_left_beside_it(tmp_path: Path) -> None:
    plan = _tgi_plan()
    export.write(_rendered(plan).manifests, fmt="helm", directory=tmp_path / "c", name=plan.name)
    assert [p.name for p in tmp_path.iterdir()] == ["c"]
    assert oct((tmp_path / "c").stat().st_mode & 0o777) == oct(0o755)


def test_a_failure_while_writing_leaves_the_directory_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _tgi_plan()
    manifests = _rendered(plan).manifests
    target = tmp_path / "out"
    before = export.write(manifests, fmt="yaml", directory=target, name=plan.name)
    snapshot = {p: p.read_text() for p in target.iterdir()}
    calls = []

    def disk_full(path: Path, text: str) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    monkeypatch.setattr(placing, "_write", disk_full)
    for directory in (target, tmp_path / "new"):
        with pytest.raises(InvalidInputError, match=r"No space left.*Nothing was written"):
            export.write(manifests, fmt="helm", directory=directory, name=plan.name)
        calls.clear()
    assert {p: p.read_text() for p in target.iterdir()} == snapshot
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert before


def test_a_name_that_is_not_a_dns_label_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="DNS label"):
        export.write([], fmt="helm", directory=tmp_path / "x", name="My Chart")
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------- tokens


def test_the_token_never_reaches_an_exported_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_API_TOKEN"):
        monkeypatch.setenv(var, rendering.CANARY)
    hf_home = Path(os.environ["HF_HOME"])
    hf_home.mkdir(parents=True, exist_ok=True)
    (hf_home / "token").write_text(rendering.CANARY)
    plan = _tgi_plan(hf_token_secret="hf-token")
    for fmt in export.FORMATS:
        written = export.write_rendered(
            _rendered(plan), plan, VAULT, fmt=fmt, directory=tmp_path / "out" / fmt
        )
        assert written
    texts = {p: p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert len(texts) > 20
    assert [p for p, t in texts.items() if rendering.CANARY in t] == []


_MISPLACED = {
    "hf_token_secret": ({"hf_token_secret": rendering.CANARY}, base.TokenOptions()),
    "secret_name": ({}, base.TokenOptions(secret_name=rendering.CANARY)),
    "remote_key": ({}, base.TokenOptions(source="external-secret", remote_key=rendering.CANARY)),
}


@pytest.mark.parametrize("where", sorted(_MISPLACED))
@pytest.mark.parametrize("fmt", export.FORMATS)
def test_a_token_passed_where_a_name_belongs_stops_the_export(
    tmp_path: Path, where: str, fmt: export.Format
) -> None:
    pins, token = _MISPLACED[where]
    options = base.Options(exposure="httproute", token=token)
    plan = _tgi_plan(**pins)
    with pytest.raises(KubeFoundryError) as err:
        export.write_rendered(
            _rendered(plan, options), plan, options, fmt=fmt, directory=tmp_path / "out"
        )
    assert rendering.CANARY not in str(err.value)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- generic Helm chart


def _generic_cases() -> list[Any]:
    plan = _tgi_plan()
    templated = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "templated", "namespace": "llm"},
        "data": {"a": "{{ .Name }} and {{- .Values.x -}}}}", "b": "{{{{ }} {{`raw`}}"},
    }
    vllm_objects = vllm.VllmRuntime().render(plan, VAULT).manifests
    return [
        pytest.param(_rendered(plan).manifests, id="tgi"),
        pytest.param((*vllm_objects, templated), id="vllm-and-go-template-text"),
    ]


@pytest.mark.parametrize("manifests", _generic_cases())
def test_generic_chart_renders_exactly_our_objects(
    helm_bin: Path, tmp_path: Path, manifests: tuple[dict[str, Any], ...]
) -> None:
    chart = tmp_path / "chart"
    export.write(manifests, fmt="helm", directory=chart, name="llama")
    out = _helm_template(helm_bin, chart, home=tmp_path, namespace="llm")
    assert rendering.schema_problems(out) == []
    assert _by_key(out) == _by_key(manifests)
    assert len(out) == len(manifests)


def test_generic_chart_takes_its_namespace_from_the_release(helm_bin: Path, tmp_path: Path) -> None:
    plan = _tgi_plan(namespace=None)
    manifests = _rendered(plan).manifests
    assert all("namespace" not in m["metadata"] for m in manifests)
    export.write(manifests, fmt="helm", directory=tmp_path / "c", name=plan.name)
    out = _helm_template(helm_bin, tmp_path / "c", home=tmp_path, namespace="team-a")
    assert {m["metadata"]["namespace"] for m in out} == {"team-a"}
    for m in out:
        del m["metadata"]["namespace"]
    assert _by_key(out) == _by_key(manifests)


def test_generic_chart_knobs_and_their_schema(helm_bin: Path, tmp_path: Path) -> None:
    plan = _tgi_plan()
    knob = f"workloads.{plan.name}"
    # Autoscaled: KEDA owns the count, so the chart offers no replicas knob to fight it.
    export.write(_rendered(plan).manifests, fmt="helm", directory=tmp_path / "s", name="llama")
    scaled = _run(
        [str(helm_bin), "template", "r", str(tmp_path / "s"), "--set", f"{knob}.replicas=5"],
        home=tmp_path,
        check=False,
    )
    assert scaled.returncode != 0
    assert "additional properties 'replicas' not allowed" in scaled.stderr
    # A fixed count (no ScaledObject): the knob sets it.
    fixed = [copy.deepcopy(m) for m in _rendered(plan).manifests if m["kind"] != "ScaledObject"]
    (workload,) = rendering.find(fixed, "Deployment")
    workload["spec"]["replicas"] = 1
    export.write(fixed, fmt="helm", directory=tmp_path / "c", name="llama")
    sets = ["--set", f"{knob}.replicas=5", "--set", f"{knob}.images.inference=example/tgi:1"]
    out = _helm_template(helm_bin, tmp_path / "c", home=tmp_path, namespace="llm", extra=sets)
    (deployment,) = rendering.find(out, "Deployment")
    assert deployment["spec"]["replicas"] == 5
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "example/tgi:1"
    bad = _run(
        [str(helm_bin), "template", "r", str(tmp_path / "c"), "--set", f"{knob}.replicas=two"],
        home=tmp_path,
        check=False,
    )
    assert bad.returncode != 0
    assert "replicas" in bad.stderr
    assert "integer" in bad.stderr


# ---------------------------------------------------------------- kustomize


def test_kustomization_lists_every_object() -> None:
    plan = _tgi_plan()
    manifests = _rendered(plan).manifests
    out = export.files(manifests, fmt="kustomize", name=plan.name)
    kustomization = yaml.safe_load(out["kustomization.yaml"])
    assert kustomization["resources"] == [f for f in out if f != "kustomization.yaml"]
    assert len(kustomization["resources"]) == len(manifests)
    assert kustomization["namespace"] == "llm"


def test_kustomize_build_gives_back_our_objects(kustomize_bin: Path, tmp_path: Path) -> None:
    plan = _tgi_plan()
    manifests = _rendered(plan).manifests
    export.write(manifests, fmt="kustomize", directory=tmp_path / "base", name=plan.name)
    done = _run([str(kustomize_bin), "build", str(tmp_path / "base")], home=tmp_path)
    out = [d for d in yaml.safe_load_all(done.stdout) if d]
    assert _by_key(out) == _by_key(manifests)
    assert rendering.schema_problems(out) == []


# ---------------------------------------------------------------- the TGI seed chart


def _chart_objects(
    helm: Path,
    tmp_path: Path,
    plan: Plan,
    options: base.Options,
    *,
    extra: Iterable[str] = (),
    lint: bool = True,
) -> list[dict[str, Any]]:
    chart = tmp_path / "ml-inference-load"
    export.write_rendered(_rendered(plan, options), plan, options, fmt="helm", directory=chart)
    return _helm_template(helm, chart, home=tmp_path, namespace="llm", extra=extra, lint=lint)


def _without_chart_labels(manifests: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    out = copy.deepcopy(list(manifests))
    for m in out:
        for meta in (m["metadata"], m.get("spec", {}).get("template", {}).get("metadata", {})):
            for key in EXTRA_CHART_LABELS:
                meta.get("labels", {}).pop(key, None)
    return out


def test_tgi_chart_has_the_seeds_layout_and_values(tmp_path: Path) -> None:
    plan = _tgi_plan()
    written = export.write_rendered(
        _rendered(plan), plan, VAULT, fmt="helm", directory=tmp_path / "c"
    )
    names = {str(p.relative_to(tmp_path / "c")) for p in written}
    assert {
        "Chart.yaml",
        "values.yaml",
        "values.schema.json",
        "templates/deployment.yaml",
        "templates/service.yaml",
        "templates/httproute.yaml",
        "templates/external-secret.yaml",
        "templates/servicemonitor.yaml",
    } <= names
    values = yaml.safe_load((tmp_path / "c" / "values.yaml").read_text())
    assert values["workloadType"] == "ML_INFERENCE_LOAD"
    assert values["serviceName"] == plan.name
    assert values["model"] == {"id": plan.model_id, "revision": "", "name": plan.model_name}
    assert values["inference"]["maxTotalTokens"] == plan.max_model_len
    assert values["inference"]["maxInputLength"] == plan.max_model_len - 1
    assert values["inference"]["image"] == {"repository": tgi.IMAGE, "tag": tgi.VERSION}
    assert values["gpu"]["count"] == plan.gpu_count
    assert values["gpu"]["nodeSelector"] == plan.node_selector  # no GPU Operator label of ours
    assert values["vault"]["hfTokenPath"] == VAULT.token.remote_key
    assert values["secretStore"]["name"] == VAULT.token.store
    assert values["environment"] == "prod"
    assert values["extraEnv"] == []
    assert values["basicMonitoring"]["enabled"] is True
    schema = json.loads((tmp_path / "c" / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator(schema).validate(values)


@pytest.mark.parametrize(
    ("model", "pins", "options"),
    [
        ("llama-3.1-8b", {}, VAULT),
        ("qwen3-14b", {"tier": "good", "hf_token_secret": "hf-token"}, VAULT),
        ("llama-3.3-70b", {"tier": "best", "gpu": None, "cloud": None}, tgi.DEFAULT_OPTIONS),
        ("qwen2.5-7b", {"tier": "good"}, base.Options(cache=base.CacheOptions(enabled=False))),
        ("Qwen/Qwen2.5-7B-Instruct-AWQ", {"gpu": None}, base.Options(monitoring="none")),
    ],
)
def test_tgi_chart_renders_what_the_tgi_renderer_renders(
    helm_bin: Path, tmp_path: Path, model: str, pins: dict[str, Any], options: base.Options
) -> None:
    plan = _tgi_plan(model, **pins)
    out = _chart_objects(helm_bin, tmp_path, plan, options)
    assert rendering.schema_problems(out) == []
    for m in out:
        assert m["metadata"]["labels"][tgitemplates.ENVIRONMENT_LABEL] == "prod"
    assert _by_key(_without_chart_labels(out)) == _by_key(_rendered(plan, options).manifests)


def test_tgi_chart_matches_the_renderer_across_the_catalog(helm_bin: Path, tmp_path: Path) -> None:
    runtime = tgi.TgiRuntime()
    accepted = [
        p for _, _, p in rendering.catalog_plans() if base.refusal(runtime, p, VAULT) is None
    ]
    sample = accepted[::9]  # every model family and tier shows up; a helm run each
    assert len(sample) >= 10
    for i, catalog_plan in enumerate(sample):
        plan = dataclasses.replace(catalog_plan, namespace="llm")
        out = _chart_objects(helm_bin, tmp_path / str(i), plan, VAULT, lint=False)
        assert rendering.schema_problems(out) == [], plan.model_id
        expected = _by_key(_rendered(plan).manifests)
        assert _by_key(_without_chart_labels(out)) == expected, plan.model_id


def test_tgi_chart_values_are_knobs(helm_bin: Path, tmp_path: Path) -> None:
    plan = _tgi_plan()
    sets = [
        "--set", "model.revision=0123abc",
        "--set", "gpu.count=2",
        "--set", "inference.quantize=fp8",
        "--set", "extraEnv[0].name=LOG_LEVEL,extraEnv[0].value=debug",
        "--set", "ingress.enabled=false",
        "--set", "basicMonitoring.enabled=false",
    ]  # fmt: skip
    out = _chart_objects(helm_bin, tmp_path, plan, VAULT, extra=sets)
    assert rendering.schema_problems(out) == []
    (deployment,) = rendering.find(out, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["REVISION"] == "0123abc"
    assert env["QUANTIZE"] == "fp8"
    assert env["LOG_LEVEL"] == "debug"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert rendering.find(out, "HTTPRoute") == rendering.find(out, "ServiceMonitor") == []


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("gpu.count=two", ("gpu", "count", "integer")),
        ("inference.quantize=int3", ("quantize",)),
        ("serviceName=Not_A_Name", ("serviceName",)),
        ("workloadType=BASIC_CONTAINER_LOAD", ("workloadType",)),
        ("environment=prod east", ("environment",)),
    ],
)
def test_tgi_chart_schema_rejects_bad_values_with_a_clear_message(
    helm_bin: Path, tmp_path: Path, setting: str, words: tuple[str, ...]
) -> None:
    plan = _tgi_plan()
    chart = tmp_path / "c"
    export.write_rendered(_rendered(plan), plan, VAULT, fmt="helm", directory=chart)
    done = _run(
        [str(helm_bin), "template", "r", str(chart), "--set", setting], home=tmp_path, check=False
    )
    assert done.returncode != 0
    assert "values don't meet the specifications of the schema" in done.stderr
    for word in words:
        assert word in done.stderr


def test_tgi_chart_is_refused_for_a_plan_tgi_cannot_serve() -> None:
    plan = rendering.plan("llama-3.1-405b", gpu="H100")
    with pytest.raises(InvalidInputError, match="multi-node"):
        export.rendered_files(
            base.Rendered(runtime=tgi.NAME, manifests=()), plan, VAULT, fmt="helm"
        )
