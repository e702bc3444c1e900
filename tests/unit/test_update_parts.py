"""Update and settings, the pure parts: merging changes onto a spec, the spec on the root,
the diff on plain dicts, the plan's changes in words, GPU prices (validation, the file store,
the planner using them). The cluster side is in tests/integration/test_updating.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.support.rendering import CANARY

from kubefoundry.core import identity
from kubefoundry.core.spec import DeploymentSpec, SpecError
from kubefoundry.deploy import diffing, rendering, settings, updating

STORED = DeploymentSpec(
    model="qwen2.5-1.5b",
    name="qwen",
    namespace="team",
    gpu="L4",
    replicas=1,
    workload={"profile": "chat", "requests_per_s": 2.0},
    serving={"monitoring": "none"},
)


def merged(changes: dict[str, Any]) -> DeploymentSpec:
    return updating.merge(STORED, changes, name="qwen", namespace="team")


# --- merging ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"replicas": 3}, "replicas", 3),
        ({"tier": "best"}, "tier", "best"),
        ({"context_length": 16384}, "context_length", 16384),
        ({"gpu": None}, "gpu", None),  # null: back to the default (unpinned)
        ({"replicas": None}, "replicas", None),
    ],
)
def test_a_change_replaces_one_field_and_keeps_the_others(
    changes: dict[str, Any], field: str, expected: Any
) -> None:
    after = merged(changes)
    assert getattr(after, field) == expected
    untouched = set(DeploymentSpec.model_fields) - {field}
    for other in untouched:
        assert getattr(after, other) == getattr(STORED, other), other


def test_nested_sections_merge_field_by_field() -> None:
    after = merged({"workload": {"input_tokens": 900}, "serving": {"cache": {"size_gib": 40}}})
    assert after.workload.input_tokens == 900
    assert after.workload.requests_per_s == 2.0  # kept
    assert after.serving.cache.size_gib == 40
    assert after.serving.monitoring == "none"


@pytest.mark.parametrize(
    ("changes", "field", "value"),
    [
        ({"replicas": 0}, "replicas", 0),
        ({"tier": "fastest"}, "tier", "fastest"),
        ({"replica": 2}, "replica", 2),
        ({"workload": {"concurrent_users": 10}}, "workload", None),  # both peaks now given
        ({"name": "renamed"}, "name", "renamed"),
        ({"namespace": "elsewhere"}, "namespace", "elsewhere"),
    ],
)
def test_a_bad_change_names_the_field_and_the_value(
    changes: dict[str, Any], field: str, value: Any
) -> None:
    with pytest.raises(SpecError) as caught:
        merged(changes)
    problems = {p.field: p.value for p in caught.value.problems}
    assert field in problems, caught.value.message
    if value is not None:
        assert problems[field] == value


def test_the_name_and_namespace_are_kept_even_when_the_stored_spec_had_none() -> None:
    bare = DeploymentSpec(model="qwen2.5-1.5b")
    after = updating.merge(bare, {"model": "qwen3-8b"}, name="qwen", namespace="team")
    assert (after.name, after.namespace, after.model) == ("qwen", "team", "qwen3-8b")


# --- the spec on the root -----------------------------------------------------------------


def test_the_root_carries_the_spec_and_only_the_root() -> None:
    spec = STORED.model_copy(update={"hf_token_secret": "my-token"})
    result = rendering.render(spec, rendering.model_entry(spec.model))
    roots = [m for m in result.rendered.manifests if identity.is_root(m)]
    others = [m for m in result.rendered.manifests if not identity.is_root(m)]
    assert len(roots) == 1
    assert identity.spec_of(roots[0]) == spec
    assert all(identity.SPEC not in (m["metadata"].get("annotations") or {}) for m in others)


def test_the_spec_annotation_is_compact_and_holds_no_defaults() -> None:
    text = identity.spec_annotation(DeploymentSpec(model="qwen2.5-1.5b", replicas=2))
    assert text == '{"model":"qwen2.5-1.5b","replicas":2}'


@pytest.mark.parametrize("value", [None, "", "not json", "[1]", '{"model": 5}', '{"x": 1}'])
def test_an_unreadable_spec_annotation_reads_as_none(value: str | None) -> None:
    root = {"metadata": {"annotations": {identity.SPEC: value} if value is not None else {}}}
    assert identity.spec_of(root) is None


def test_a_root_without_a_spec_says_to_deploy_again() -> None:
    root = {"kind": "Deployment", "metadata": {"name": "qwen", "annotations": {}}}
    with pytest.raises(Exception, match="carries no readable spec") as caught:
        updating.stored_spec(root, name="qwen", namespace="team")
    assert "kubefoundry deploy -f" in str(getattr(caught.value, "hint", ""))


# --- the diff -----------------------------------------------------------------------------


def live_deployment(replicas: int, **meta: Any) -> dict[str, Any]:
    summary = identity.PlanSummary(replicas=replicas, gpu="1xL4", usd_per_hour=0.7 * replicas)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "qwen",
            "namespace": "team",
            "uid": "u-1",
            "resourceVersion": str(100 + replicas),
            "generation": replicas,
            "creationTimestamp": "2026-12-01T00:00:00Z",
            "managedFields": [{"manager": "kubefoundry", "operation": "Apply"}],
            "annotations": {identity.PLAN: summary.to_annotation()},
            **meta,
        },
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "x"}]}}},
        "status": {"readyReplicas": 1},
    }


def test_the_diff_shows_what_changes_and_none_of_the_bookkeeping() -> None:
    text = diffing.unified(live_deployment(1), live_deployment(2), ref="Deployment/qwen")
    lines = text.splitlines()
    assert "-  replicas: 1" in lines
    assert "+  replicas: 2" in lines
    assert "+      replicas: 2" in lines  # inside the unfolded plan summary
    for noise in ("resourceVersion", "managedFields", "generation", "uid", "readyReplicas"):
        assert noise not in text


def test_the_same_object_has_an_empty_diff() -> None:
    assert diffing.unified(live_deployment(1), live_deployment(1), ref="x") == ""


def test_the_plan_changes_read_as_words() -> None:
    before = identity.PlanSummary(tier="better", gpu="1xL4", replicas=1, usd_per_hour=0.7)
    after = identity.PlanSummary(tier="better", gpu="1xL4", replicas=2, usd_per_hour=1.4)
    words = diffing.plan_changes(before, after, runtime_before="vllm", runtime_after="vllm")
    assert words == ["replicas: 1 → 2", "GPUs in all: 1 → 2", "$/hour: 0.70 → 1.40"]
    assert diffing.plan_changes(before, before) == []


def test_only_objects_we_applied_are_ours_to_prune() -> None:
    ours = live_deployment(1)
    copied = live_deployment(1, managedFields=[{"manager": "kserve", "operation": "Update"}])
    assert diffing.owns(ours, "kubefoundry")
    assert not diffing.owns(copied, "kubefoundry")


def test_replicas_an_autoscaler_took_over_are_left_to_it() -> None:
    scaled = live_deployment(
        4,
        managedFields=[
            {"manager": "kubefoundry", "operation": "Apply", "fieldsV1": {"f:spec": {}}},
            {
                "manager": "kube-controller-manager",
                "operation": "Update",
                "subresource": "scale",
                "fieldsV1": {"f:spec": {"f:replicas": {}}},
            },
        ],
    )
    assert diffing.replicas_owner(scaled, ours="kubefoundry") == "kube-controller-manager"
    assert diffing.replicas_owner(live_deployment(1), ours="kubefoundry") is None
    notes: list[str] = []
    bodies = updating._yielding([live_deployment(2)], [scaled], notes)
    assert "replicas" not in bodies[0]["spec"]
    assert "template" in bodies[0]["spec"]
    assert "kube-controller-manager" in notes[0]


# --- GPU prices ---------------------------------------------------------------------------


def test_prices_take_the_catalogs_names() -> None:
    assert settings.validate_prices({"l4": 0.55, "H100": 2}) == {"L4": 0.55, "H100-80GB-SXM": 2.0}


@pytest.mark.parametrize(
    ("prices", "field"),
    [
        ({"L5": 1.0}, "L5"),
        ({"L4": 0}, "L4"),
        ({"L4": -1}, "L4"),
        ({"L4": True}, "L4"),
        ({"L4": "cheap"}, "L4"),
        ({"L4": float("nan")}, "L4"),
        ({"L4": 5000}, "L4"),
    ],
)
def test_a_bad_price_names_the_gpu(prices: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as caught:
        settings.validate_prices(prices)
    assert [p.field for p in caught.value.problems] == [field]


def test_an_unknown_gpu_suggests_close_names() -> None:
    with pytest.raises(SpecError, match="Did you mean: H100"):
        settings.validate_prices({"H10": 1.0})


def test_the_file_store_round_trips_under_xdg_config_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert settings.config_dir() == tmp_path / "kubefoundry"
    store = settings.store(None)
    assert store.load().gpu_prices == {}
    store.save_prices({"L4": 0.55})
    assert settings.store(None).load() == settings.Stored(
        {"L4": 0.55}, str(tmp_path / "kubefoundry" / "settings.yaml")
    )
    assert settings.config_dir({}) == Path.home() / ".config" / "kubefoundry"


def test_a_hand_broken_settings_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("gpu_prices: {L4: -3}\n")
    with pytest.raises(Exception, match=str(path)):
        settings.FileStore(path).load()


def test_a_bad_token_is_refused_without_showing_it() -> None:
    with pytest.raises(SpecError) as caught:
        settings.put_token(None, token=f"{CANARY} x", namespace="team")  # type: ignore[arg-type]
    assert CANARY not in caught.value.message
    assert [p.field for p in caught.value.problems] == ["token"]


def test_on_prem_plans_use_the_stored_price_and_say_so() -> None:
    spec = DeploymentSpec(model="qwen2.5-1.5b", cloud="onprem")
    entry = rendering.model_entry(spec.model)
    _, plan = rendering.plan(spec, entry, prices={"L4": 0.5})
    gpu = next(d for d in plan.decisions if d.topic == "gpu")
    assert plan.gpu == "L4"
    assert "L4 in the settings, $0.5/GPU-hour" in gpu.choice
    assert plan.cost.usd_per_hour_total == pytest.approx(0.5 * plan.gpu_count * plan.replicas)
    assert any("no on-prem price" in a.why_not for a in gpu.alternatives)


def test_a_price_in_the_spec_wins_over_the_stored_one() -> None:
    spec = DeploymentSpec(model="qwen2.5-1.5b", cloud="onprem", gpu="L4", usd_per_gpu_hour=2.0)
    _, plan = rendering.plan(spec, rendering.model_entry(spec.model), prices={"L4": 0.5})
    assert plan.cost.usd_per_hour_total == pytest.approx(2.0 * plan.gpu_count * plan.replicas)


def test_without_stored_prices_on_prem_still_asks_for_one() -> None:
    spec = DeploymentSpec(model="qwen2.5-1.5b", cloud="onprem")
    with pytest.raises(Exception, match="no price list"):
        rendering.plan(spec, rendering.model_entry(spec.model), prices={})
