"""Dynamo's autoscaling lands on an adapter the operator creates (issue 11).

The ScaledObject scales a DynamoGraphDeploymentScalingAdapter (DGDSA) that only the operator
makes, and only for a component that opts in. No Dynamo operator runs here, so the operator's
documented rule is played by a fake named as such (``tests/support/dynamo_fake.py``), written
from the operator's docs, not from our renderer. Over every catalog model × tier, aggregated
and disaggregated: every ScaledObject targets an adapter the fake creates, and an adapter
exists exactly where the plan autoscales.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from tests.support import dynamo_fake, rendering

from kubefoundry.core.errors import KubeFoundryError
from kubefoundry.planning.plans import Plan
from kubefoundry.runtimes import base, dynamo
from kubefoundry.runtimes.common import scaling

RUNTIME = dynamo.DynamoRuntime()


def _plans() -> list[tuple[str, Plan]]:
    """Every catalog model × tier (all autoscale), and each of them pinned to a fixed count."""
    out = []
    for model, tier, plan in rendering.catalog_plans():
        out.append((f"{model}-{tier}", plan))
        s = plan.autoscaling
        fixed = dataclasses.replace(
            s, max_replicas=s.min_replicas or 1, min_replicas=s.min_replicas or 1
        )
        out.append((f"{model}-{tier}-fixed", dataclasses.replace(plan, autoscaling=fixed)))
    return out


def _renders() -> list[tuple[str, bool, Any, base.Rendered]]:
    out = []
    for name, plan in _plans():
        for disaggregated in (False, True):
            try:
                rendered = RUNTIME.render(plan, base.Options(disaggregated=disaggregated))
            except KubeFoundryError:
                continue
            out.append((name, disaggregated, plan, rendered))
    return out


def test_every_scaler_targets_an_adapter_the_operator_creates_and_only_where_planned() -> None:
    renders = _renders()
    scaled = [r for r in renders if scaling.wants_scaler(r[2])]
    assert len(scaled) >= 20  # both kinds of plan seen
    assert len(renders) - len(scaled) >= 20
    for name, disaggregated, plan, rendered in renders:
        made = dynamo_fake.adapters(rendered.manifests)
        scalers = rendering.find(rendered.manifests, "ScaledObject")
        where = f"{name} disaggregated={disaggregated}"
        for scaler in scalers:
            target = scaler["spec"]["scaleTargetRef"]
            assert dynamo_fake.resolves(target, made), f"{where}: {target} is never created"
        if scaling.wants_scaler(plan):
            # One adapter, for the pool that holds the queue, and the one scaler drives it.
            assert [a["spec"]["dgdRef"]["componentName"] for a in made] == ["VllmDecodeWorker"]
            assert len(scalers) == 1, where
        else:
            assert made == [], where
            assert scalers == [], where


def test_the_renderer_and_the_checks_read_the_rule_as_the_fake_does() -> None:
    """``dynamo.adapted_components`` (what ``kubefoundry check`` uses) agrees with the fake on
    every render and on both API versions' opt-in spellings."""
    graphs = [rendering.find(r[3].manifests, "DynamoGraphDeployment")[0] for r in _renders()]
    graphs += _hand_written()
    for graph in graphs:
        fake = {a["metadata"]["name"] for a in dynamo_fake.adapters([graph])}
        assert set(dynamo.adapted_components(graph)) == fake


def _hand_written() -> list[dict[str, Any]]:
    beta = {
        "apiVersion": "nvidia.com/v1beta1",
        "kind": "DynamoGraphDeployment",
        "metadata": {"name": "g"},
        "spec": {"components": [{"name": "Decode", "type": "worker"}]},
    }
    alpha = {
        "apiVersion": "nvidia.com/v1alpha1",
        "kind": "DynamoGraphDeployment",
        "metadata": {"name": "g"},
        "spec": {"services": {"Decode": {"componentType": "worker"}}},
    }
    out = []
    for adapter in (None, {}, {"enabled": True}, {"enabled": False}):
        for graph in (beta, alpha):
            g = copy.deepcopy(graph)
            if adapter is not None:
                holder = g["spec"]["components"][0] if "components" in g["spec"] else None
                holder = holder or g["spec"]["services"]["Decode"]
                holder["scalingAdapter"] = dict(adapter)
            out.append(g)
    return out


@pytest.mark.parametrize(
    ("version", "adapter", "created"),
    [
        ("v1beta1", None, False),
        ("v1beta1", {}, True),  # v1beta1 opts in by presence
        ("v1alpha1", {}, False),  # v1alpha1: enabled defaults to false
        ("v1alpha1", {"enabled": True}, True),
        ("v1alpha1", {"enabled": False}, False),
    ],
)
def test_the_fake_follows_the_operators_documented_rule(
    version: str, adapter: dict[str, Any] | None, created: bool
) -> None:
    (graph,) = [
        g
        for g in _hand_written()
        if g["apiVersion"].endswith(version) and _adapter_of(g) == adapter
    ]
    made = dynamo_fake.adapters([graph])
    assert [a["metadata"]["name"] for a in made] == (["g-decode"] if created else [])


def _adapter_of(graph: dict[str, Any]) -> dict[str, Any] | None:
    spec = graph["spec"]
    holder = spec["components"][0] if "components" in spec else spec["services"]["Decode"]
    return holder.get("scalingAdapter")
