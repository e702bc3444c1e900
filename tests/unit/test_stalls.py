"""Deployments that cannot come up by themselves fail at once (``deploy/stalls``): pods the
scheduler cannot place for want of GPUs, with and without an autoscaler; a root no operator
acts on. Pure: recorded object shapes, the time given."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from kubefoundry.core.facts import ClusterFacts, NodePool
from kubefoundry.deploy import deploying, phases, stalls

NOW = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)
H100 = NodePool(
    name="h100",
    gpu="H100",
    gpus_per_node=8,
    nodes=2,
    free_gpus=0,
    labels={"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"},
)
NO_SCALER = ClusterFacts(node_pools=(H100,))
KARPENTER = ClusterFacts(
    node_pools=(
        H100.model_copy(update={"labels": H100.labels | {"karpenter.sh/nodepool": "gpu"}}),
    ),
    provisioner="karpenter",
)
SCALES = ClusterFacts(
    node_pools=(H100.model_copy(update={"max_nodes": 4}),), provisioner="cluster-autoscaler"
)
AT_MAX = ClusterFacts(
    node_pools=(H100.model_copy(update={"max_nodes": 2}),), provisioner="cluster-autoscaler"
)
INSUFFICIENT = (
    "0/7 nodes are available: 2 Insufficient nvidia.com/gpu, 5 node(s) didn't match Pod's "
    "node affinity/selector."
)


def ago(seconds: float) -> str:
    return (NOW - datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def root(
    *, status: Any = None, age_s: float = 5, runtime: str = "vllm", kind: str = "Deployment"
) -> dict[str, Any]:
    meta = {
        "name": "big",
        "creationTimestamp": ago(age_s),
        "labels": {"kubefoundry.io/deployment": "big", "kubefoundry.io/runtime": runtime},
    }
    out: dict[str, Any] = {"apiVersion": "apps/v1", "kind": kind, "metadata": meta}
    if status is not None:
        out["status"] = status
    return out


def pending(name: str, *, since_s: float, message: str = INSUFFICIENT) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": ago(since_s)},
        "spec": {
            "nodeSelector": dict(H100.labels),
            "containers": [{"name": "engine", "resources": {"limits": {"nvidia.com/gpu": "8"}}}],
        },
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": message,
                    "lastTransitionTime": ago(since_s),
                }
            ],
        },
    }


def running(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"nodeName": "n1", "containers": [{"name": "engine"}]},
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "True"},
            ],
        },
    }


def test_unschedulable_without_an_autoscaler_fails_naming_the_shortfall() -> None:
    pods = [running("big-0"), pending("big-1", since_s=30), pending("big-2", since_s=30)]
    got = deploying.progress(root(status={"replicas": 3}), pods, facts=NO_SCALER, now=NOW)
    assert got.phase is phases.Phase.FAILED
    assert "2 pods of 3 cannot be scheduled" in got.message
    assert "each asks for 8 nvidia.com/gpu (16 in all)" in got.message
    assert "pool h100 has 16 H100 in all (2 nodes × 8), 0 free" in got.message
    assert "no autoscaler found" in got.message
    assert got.ready == 1


def test_a_fresh_shortfall_waits_a_grace_for_gpus_being_given_back() -> None:
    got = stalls.unschedulable(
        root(), [pending("big-0", since_s=3)], events={}, facts=NO_SCALER, now=NOW
    )
    assert got is not None
    assert got.phase is phases.Phase.SCHEDULING
    assert f"unless GPUs free up within {stalls.UNSCHEDULABLE_GRACE_S:.0f}s" in got.message


@pytest.mark.parametrize(
    ("facts", "events", "said"),
    [
        (KARPENTER, {}, "karpenter (NodePool gpu) is to add nodes with 8 more nvidia.com/gpu"),
        (SCALES, {}, "the cluster autoscaler (pool h100: up to 4 nodes)"),
        (None, {"big-0": [{"reason": "TriggeredScaleUp"}]}, "it triggered a scale-up"),
    ],
)
def test_with_an_autoscaler_that_can_add_nodes_it_waits_and_says_how_long(
    facts: ClusterFacts | None, events: dict[str, Any], said: str
) -> None:
    got = stalls.unschedulable(
        root(), [pending("big-0", since_s=600)], events=events, facts=facts, now=NOW
    )
    assert got is not None
    assert got.phase is phases.Phase.SCHEDULING
    assert said in got.message
    assert "an estimate, not a measured figure" in got.message


@pytest.mark.parametrize(
    ("facts", "events", "why"),
    [
        (AT_MAX, {}, "the cluster autoscaler's pool is at its maximum"),
        (
            NO_SCALER.model_copy(update={"provisioner": "karpenter"}),
            {},
            "Karpenter manages other node pools",
        ),
        (None, {"big-0": [{"reason": "NotTriggerScaleUp"}]}, "will not scale up for it"),
    ],
)
def test_an_autoscaler_that_cannot_help_is_a_failure(
    facts: ClusterFacts | None, events: dict[str, Any], why: str
) -> None:
    got = stalls.unschedulable(
        root(), [pending("big-0", since_s=60)], events=events, facts=facts, now=NOW
    )
    assert got is not None
    assert got.phase is phases.Phase.FAILED
    assert why in got.message


def test_without_facts_or_for_other_reasons_it_is_still_scheduling() -> None:
    pod = pending("big-0", since_s=600)
    assert stalls.unschedulable(root(), [pod], events={}, facts=None, now=NOW) is None
    unbound = pending("big-0", since_s=600, message="pod has unbound immediate PVCs")
    got = deploying.progress(root(status={}), [unbound], facts=NO_SCALER, now=NOW)
    assert got.phase is phases.Phase.SCHEDULING


def test_a_root_no_operator_acts_on_fails_after_a_minute_naming_the_operator() -> None:
    silent = root(age_s=stalls.SILENT_OPERATOR_S + 5, runtime="kserve", kind="InferenceService")
    got = deploying.progress(silent, [], now=NOW)
    assert got.phase is phases.Phase.FAILED
    assert "no status and no pods for 65s" in got.message
    assert "kserve's controller is not running (install the kserve operator:" in got.message
    # KServe's other mode has a controller of its own: the one named is the root kind's.
    llm = root(age_s=600, runtime="kserve", kind="LLMInferenceService")
    said = deploying.progress(llm, [], now=NOW).message
    assert "(install the kserve-llmisvc operator:" in said, said
    young = root(age_s=10, runtime="kserve")
    assert deploying.progress(young, [], now=NOW).phase is phases.Phase.WAITING
    answered = root(age_s=600, runtime="kserve", status={"conditions": []})
    assert deploying.progress(answered, [], now=NOW).phase is phases.Phase.WAITING


def test_a_missing_namespace_is_said_first_with_close_names() -> None:
    err = deploying.no_namespace("defualt", visible=["default", "kube-system"])
    assert err.message.startswith("Unknown namespace 'defualt'. Did you mean: default?")
    assert "does not exist" in (err.hint or "")
