"""The scaling rules on both Dynamo API versions and on plain workloads (issue 11)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.unit.checks.support import run

from kubefoundry.checks.rules import scaling

SCALER = {
    "apiVersion": "keda.sh/v1alpha1",
    "kind": "ScaledObject",
    "metadata": {"name": "g"},
    "spec": {
        "scaleTargetRef": {
            "apiVersion": "nvidia.com/v1beta1",
            "kind": "DynamoGraphDeploymentScalingAdapter",
            "name": "g-decode",
        },
        "minReplicaCount": 1,
        "maxReplicaCount": 3,
        "triggers": [{"type": "cpu", "metadata": {"value": "50"}, "metricType": "Utilization"}],
    },
}


def _graph(component: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "nvidia.com/v1beta1",
        "kind": "DynamoGraphDeployment",
        "metadata": {"name": "g"},
        "spec": {"components": [{"name": "Decode", "type": "worker", **component}]},
    }


def _rules(manifests: list[dict[str, Any]]) -> list[str]:
    mine = {scaling.SCALER_TARGET_NOT_CREATED, scaling.REPLICAS_OWNED_BY_SCALER}
    return sorted(f.rule for f in run(manifests) if f.rule in mine)


@pytest.mark.parametrize(
    ("component", "target", "expected"),
    [
        ({}, "g-decode", [scaling.SCALER_TARGET_NOT_CREATED]),  # v1beta1: omitted = opted out
        ({"scalingAdapter": {}}, "g-decode", []),  # v1beta1 opts in by presence
        ({"scalingAdapter": {}}, "g-prefill", [scaling.SCALER_TARGET_NOT_CREATED]),  # no such
        ({"scalingAdapter": {}}, "other-decode", []),  # another graph's adapter
        ({"scalingAdapter": {}, "replicas": 2}, "g-decode", [scaling.REPLICAS_OWNED_BY_SCALER]),
        ({"replicas": 2}, "other-decode", []),  # nothing scales it
    ],
)
def test_v1beta1_graph(component: dict[str, Any], target: str, expected: list[str]) -> None:
    scaler = copy.deepcopy(SCALER)
    scaler["spec"]["scaleTargetRef"]["name"] = target
    assert _rules([_graph(component), scaler]) == expected


def test_v1alpha1_bare_adapter_is_disabled_and_the_fix_says_enabled_true() -> None:
    graph = {
        "apiVersion": "nvidia.com/v1alpha1",
        "kind": "DynamoGraphDeployment",
        "metadata": {"name": "g"},
        "spec": {"services": {"Decode": {"componentType": "worker", "scalingAdapter": {}}}},
    }
    (finding,) = [f for f in run([graph, SCALER]) if f.rule == scaling.SCALER_TARGET_NOT_CREATED]
    assert "enabled: true" in finding.fix
    assert finding.path == "spec.services.Decode.scalingAdapter"
    graph["spec"]["services"]["Decode"]["scalingAdapter"] = {"enabled": True}
    assert _rules([graph, SCALER]) == []


def test_an_hpa_on_a_deployment_with_replicas_is_flagged_and_without_is_clean() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1"}]},
            },
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 3,
            "maxReplicas": 6,
        },
    }
    (finding,) = [f for f in run([deployment, hpa]) if f.rule == scaling.REPLICAS_OWNED_BY_SCALER]
    assert finding.path == "spec.replicas"
    assert "HorizontalPodAutoscaler/web" in finding.message
    del deployment["spec"]["replicas"]
    assert _rules([deployment, hpa]) == []
