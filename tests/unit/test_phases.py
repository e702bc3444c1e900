"""Pod and root-object states → the phase a person reads, with the reason when stuck."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support import rendering

from kubefoundry.core.identity import COMPONENT, PLAN
from kubefoundry.deploy.phases import Phase, of_pod, of_pods, root_failure, root_says
from kubefoundry.runtimes import kuberay, llmd_picker
from kubefoundry.runtimes.base import Options


def pod(
    name: str = "p",
    *,
    scheduled: bool = True,
    ready: bool = False,
    waiting: str | None = None,
    waiting_message: str = "",
    oom: bool = False,
    phase: str = "Running",
    unschedulable: str = "",
) -> dict[str, Any]:
    conditions = [
        {
            "type": "PodScheduled",
            "status": "True" if scheduled else "False",
            "message": unschedulable,
        },
        {"type": "Ready", "status": "True" if ready else "False"},
    ]
    container: dict[str, Any] = {"name": "vllm", "state": {"running": {}}}
    if waiting:
        container["state"] = {"waiting": {"reason": waiting, "message": waiting_message}}
    if oom:
        container["lastState"] = {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
    return {
        "metadata": {"name": name},
        "status": {"phase": phase, "conditions": conditions, "containerStatuses": [container]},
    }


@pytest.mark.parametrize(
    ("state", "events", "logs", "phase", "words"),
    [
        (
            pod(
                scheduled=False,
                unschedulable="0/4 nodes are available: 4 Insufficient nvidia.com/gpu.",
            ),
            [],
            [],
            Phase.SCHEDULING,
            "Insufficient nvidia.com/gpu",
        ),
        (
            pod(waiting="ContainerCreating"),
            [{"reason": "Pulling", "message": 'Pulling image "vllm/vllm-openai:v0.19.0"'}],
            [],
            Phase.PULLING,
            "vllm/vllm-openai",
        ),
        (pod(), [], ["INFO Downloading model.safetensors 40%"], Phase.DOWNLOADING, "Downloading"),
        (
            pod(),
            [],
            ["INFO Downloading ...", "INFO Loading weights took 31.2 seconds"],
            Phase.LOADING,
            "Loading weights",
        ),
        (pod(ready=True), [], [], Phase.READY, "ready"),
        (
            pod(waiting="ImagePullBackOff", waiting_message="manifest unknown"),
            [],
            [],
            Phase.FAILED,
            "manifest unknown",
        ),
        (pod(waiting="CrashLoopBackOff", oom=True), [], [], Phase.FAILED, "OOMKilled"),
        (pod(oom=True), [], [], Phase.FAILED, "lower `context_length`"),
    ],
)
def test_pod_phases(
    state: dict[str, Any], events: list[dict[str, str]], logs: list[str], phase: Phase, words: str
) -> None:
    progress = of_pod(state, events=events, log_tail=logs)
    assert progress.phase is phase
    assert words in progress.message


def test_a_deployment_is_as_far_as_its_slowest_replica_and_fails_if_one_fails() -> None:
    ready, loading = pod("a", ready=True), pod("b")
    assert of_pods([ready, loading], wanted=2).phase is Phase.LOADING
    assert of_pods([ready, ready | {"metadata": {"name": "c"}}], wanted=2).phase is Phase.READY
    failed = pod("d", waiting="ErrImagePull")
    assert of_pods([ready, failed], wanted=2).phase is Phase.FAILED
    short = of_pods([ready], wanted=2)
    assert short.phase is not Phase.READY
    assert (short.ready, short.wanted) == (1, 2)
    assert of_pods([], wanted=1).phase is Phase.WAITING


def test_phases_classify_themselves() -> None:
    assert Phase.READY.is_terminal
    assert Phase.FAILED.is_failed
    assert not Phase.LOADING.is_terminal


def test_operator_failures_on_the_root_object() -> None:
    isvc = {
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "RuntimeFailed",
                    "message": "no runtime",
                }
            ]
        }
    }
    assert "no runtime" in (root_failure(isvc) or "")
    progressing = {
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Progressing"}]}
    }
    assert root_failure(progressing) is None


@pytest.mark.parametrize(
    ("root", "ready"),
    [
        ({"kind": "Deployment", "spec": {"replicas": 2}, "status": {"availableReplicas": 2}}, True),
        (
            {"kind": "Deployment", "spec": {"replicas": 2}, "status": {"availableReplicas": 1}},
            False,
        ),
        (
            {"kind": "LeaderWorkerSet", "spec": {"replicas": 1}, "status": {"readyReplicas": 1}},
            True,
        ),
        (  # autoscaled: created at the default one, the plan (summary) wants two
            {
                "kind": "Deployment",
                "metadata": {"annotations": {PLAN: '{"replicas":2}'}},
                "spec": {"replicas": 1},
                "status": {"availableReplicas": 1},
            },
            False,
        ),
        (
            {
                "kind": "Deployment",
                "metadata": {"annotations": {PLAN: '{"replicas":2}'}},
                "spec": {"replicas": 3},
                "status": {"availableReplicas": 3},
            },
            True,
        ),
        ({"kind": "RayService", "status": {"serviceStatus": "Running"}}, True),
        ({"kind": "DynamoGraphDeployment", "status": {"state": "pending"}}, False),
        (
            {
                "kind": "InferenceService",
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            },
            True,
        ),
        (
            {
                "kind": "Workspace",
                "status": {"conditions": [{"type": "InferenceReady", "status": "False"}]},
            },
            False,
        ),
        ({"kind": "InferenceService", "status": {}}, None),
    ],
)
def test_root_readiness_is_read_per_kind(root: dict[str, Any], ready: bool | None) -> None:
    from kubefoundry.deploy.phases import root_ready

    assert root_ready(root) is ready


def _labelled(p: dict[str, Any], component: str) -> dict[str, Any]:
    return p | {"metadata": {**p["metadata"], "labels": {COMPONENT: component}}}


def test_llmds_endpoint_picker_is_progress_not_a_replica() -> None:
    """Issue 11: "ready (3/2 ready)" counted the picker's pod as a third replica."""
    picker = _labelled(pod("epp", ready=True), llmd_picker.COMPONENT)
    servers = [_labelled(pod(n, ready=True), "vllm") for n in ("v1", "v2")]
    both = of_pods([*servers, picker], wanted=2)
    assert (both.phase, both.ready, both.wanted) == (Phase.READY, 2, 2)
    # One server and the picker ready: one replica of two, not two of two.
    short = of_pods([servers[0], picker], wanted=2)
    assert short.phase is not Phase.READY
    assert (short.ready, short.wanted) == (1, 2)
    # Only the picker: no replica yet.
    alone = of_pods([picker], wanted=1)
    assert alone.phase is not Phase.READY
    assert (alone.ready, alone.message) == (0, "0 of 1 replica exists")
    # A picker still starting holds the deployment back: its phase counts, its pod does not.
    starting = of_pods([*servers, _labelled(pod("epp"), llmd_picker.COMPONENT)], wanted=2)
    assert starting.phase is Phase.LOADING
    assert starting.ready == 2


def test_kuberays_head_pod_is_progress_not_a_replica() -> None:
    """Issue 11, with the real KubeRay operator: the head pod (no GPU, no model) and three
    workers made "4/3 ready". The rendered head carries the helper label (the operator copies
    the template's labels onto the pod), so three workers are three of three."""
    plan = rendering.plan("qwen2.5-7b", gpu="L4", replicas=3)
    rendered = kuberay.KubeRayRuntime().render(plan, Options()).manifests
    (service,) = [m for m in rendered if m["kind"] == "RayService"]
    head = service["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["metadata"]
    workers = [pod(f"w{i}", ready=True) for i in range(3)]
    pods = [*workers, pod("head", ready=True) | {"metadata": {"name": "head", **head}}]
    counted = of_pods(pods, wanted=3)
    assert (counted.phase, counted.ready, counted.wanted) == (Phase.READY, 3, 3)


@pytest.mark.parametrize(
    ("conditions", "said"),
    [
        # KubeRay v1.6.2's words while it cannot reach the Ray dashboard (the sandbox's case).
        (
            [{"type": "Ready", "status": "False", "reason": "Initializing",
              "message": "RayService is initializing"}],
            "Ready=False (Initializing): RayService is initializing",
        ),
        # A true Ready says nothing; the next Ready-like condition that is not true does.
        (
            [{"type": "Ready", "status": "True"},
             {"type": "InferenceReady", "status": "Unknown", "reason": "Pending"}],
            "InferenceReady=Unknown (Pending)",
        ),
        ([{"type": "Ready", "status": "True"}], None),
        ([], None),
    ],
)  # fmt: skip
def test_the_root_says_why_it_does_not_serve(
    conditions: list[dict[str, str]], said: str | None
) -> None:
    assert root_says({"status": {"conditions": conditions}}) == said
