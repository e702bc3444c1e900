"""Whether an operator's controller runs, read from the objects a running one leaves behind
(``deploy.controllers``), table-driven on object shapes; the runtimes' declarations checked
against what each project's own source names; the planner picking only running runtimes."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from tests.support import rendering

from kubefoundry.core.errors import InvalidInputError
from kubefoundry.core.facts import ClusterFacts, NodePool, OperatorStatus
from kubefoundry.deploy import controllers
from kubefoundry.runtimes import base, choosing, registry

NOW = datetime.datetime(2026, 3, 1, 12, 0, 0, tzinfo=datetime.UTC)
RUNTIMES = registry.default()
OPERATORS = {o.key: o for o in RUNTIMES.operators()}
ALL_SERVED = {o.crd: ["v1"] for o in RUNTIMES.operators()}


def lease(name: str, *, ago_s: float, holder: str = "pod-1", duration: int = 15) -> dict[str, Any]:
    renewed = (NOW - datetime.timedelta(seconds=ago_s)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "metadata": {"name": name, "namespace": "ops"},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": duration,
            "renewTime": renewed,
        },
    }


def pod(labels: dict[str, str], *, ready: bool = True, phase: str = "Running") -> dict[str, Any]:
    return {
        "metadata": {"name": "op-0", "namespace": "ops", "labels": labels},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def endpoints(service: str, *, ready: bool | None) -> dict[str, Any]:
    conditions = {} if ready is None else {"ready": ready}
    return {
        "metadata": {
            "name": f"{service}-abc",
            "namespace": "ops",
            "labels": {"kubernetes.io/service-name": service},
        },
        "endpoints": [{"addresses": ["10.0.0.1"], "conditions": conditions}],
    }


def gateway_class(controller: str, *, accepted: bool) -> dict[str, Any]:
    status = "True" if accepted else "Unknown"
    return {
        "metadata": {"name": "gw"},
        "spec": {"controllerName": controller},
        "status": {"conditions": [{"type": "Accepted", "status": status}]},
    }


CASES: list[tuple[str, str, dict[str, Any], str, str]] = [
    # (case, operator key, what the cluster holds, state, words the evidence contains)
    ("no sign at all", "kuberay", {}, "crds-only", "no Lease ray-operator-leader held"),
    ("fresh lease", "kuberay", {"leases": [lease("ray-operator-leader", ago_s=3)]}, "running",
     "Lease ops/ray-operator-leader held by pod-1, renewed 3s ago"),
    ("lease within duration plus skew", "kuberay",
     {"leases": [lease("ray-operator-leader", ago_s=44)]}, "running", "renewed 44s ago"),
    ("stale lease", "kuberay", {"leases": [lease("ray-operator-leader", ago_s=600)]},
     "crds-only", "expired: last renewed 10 min ago"),
    ("released lease", "kuberay",
     {"leases": [lease("ray-operator-leader", ago_s=1, holder="")]}, "crds-only",
     "held by no one"),
    ("another operator's lease", "kuberay", {"leases": [lease("operator.keda.sh", ago_s=1)]},
     "crds-only", "not running"),
    ("ready pod", "kuberay", {"pods": [pod({"app.kubernetes.io/name": "kuberay-operator"})]},
     "running", "pod ops/op-0 (app.kubernetes.io/name=kuberay-operator) is ready"),
    ("pod not ready", "kuberay",
     {"pods": [pod({"app.kubernetes.io/name": "kuberay-operator"}, ready=False)]},
     "crds-only", "pod ops/op-0 is not ready"),
    ("pending pod", "kuberay",
     {"pods": [pod({"app.kubernetes.io/name": "kuberay-operator"}, phase="Pending")]},
     "crds-only", "not ready"),
    ("pod with half the labels", "dynamo", {"pods": [pod({"control-plane": "controller-manager"})]},
     "crds-only", "not running"),
    ("pod with all the labels", "dynamo",
     {"pods": [pod({"control-plane": "controller-manager",
                    "app.kubernetes.io/name": "dynamo-operator"})]}, "running", "is ready"),
    ("webhook endpoint ready", "kserve",
     {"endpoint_slices": [endpoints("kserve-webhook-server-service", ready=True)]}, "running",
     "webhook Service ops/kserve-webhook-server-service has a ready endpoint"),
    ("webhook endpoint, ready unset", "kaito",
     {"endpoint_slices": [endpoints("kaito-workspace-svc", ready=None)]}, "running",
     "has a ready endpoint"),
    ("webhook endpoint not ready", "kserve",
     {"endpoint_slices": [endpoints("kserve-webhook-server-service", ready=False)]},
     "crds-only", "not running"),
    ("leases hidden, nothing else", "lws", {"hidden": {"leases": "Not allowed to list"}},
     "unknown", "Hidden: leases: Not allowed to list"),
    ("leases hidden but webhook ready", "lws",
     {"hidden": {"leases": "Not allowed"},
      "endpoint_slices": [endpoints("lws-webhook-service", ready=True)]}, "running",
     "lws-webhook-service"),
    ("pods hidden, KEDA's lease stale", "keda",
     {"hidden": {"pods": "Not allowed"}, "leases": [lease("operator.keda.sh", ago_s=900)]},
     "unknown", "Hidden: pods"),
    ("hidden kind it does not use", "kuberay", {"hidden": {"endpointslices": "Not allowed"}},
     "crds-only", "not running"),
    ("needs no controller", "llm-d", {}, "running", "read by the endpoint picker"),
    ("inference gateway accepted", "gateway-api-inference-extension",
     {"gateway_classes": [gateway_class("istio.io/gateway-controller", accepted=True)]},
     "running", "GatewayClass gw accepted by istio.io/gateway-controller"),
    ("gateway that does not implement it", "gateway-api-inference-extension",
     {"gateway_classes": [gateway_class("example.com/plain-gateway", accepted=True)]},
     "crds-only", "not running"),
    ("inference gateway not accepted", "gateway-api-inference-extension",
     {"gateway_classes": [gateway_class("kgateway.dev/kgateway", accepted=False)]},
     "crds-only", "not running"),
    ("any gateway for HTTPRoutes", "gateway-api",
     {"gateway_classes": [gateway_class("example.com/plain-gateway", accepted=True)]},
     "running", "accepted by example.com/plain-gateway"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("key", "cluster", "state", "words"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_each_operators_state_from_what_its_controller_leaves(
    key: str, cluster: dict[str, Any], state: str, words: str
) -> None:
    found = controllers.states(
        [OPERATORS[key]], served={OPERATORS[key].crd: ["v1"]}, now=NOW, **cluster
    )
    assert found[key].state == state, found[key]
    assert words in found[key].evidence
    if state == "crds-only":
        assert found[key].fix == OPERATORS[key].controller.install  # type: ignore[union-attr]


def test_an_operator_whose_crd_is_not_served_is_absent_and_the_version_is_the_preferred() -> None:
    served = {OPERATORS["kserve"].crd: ["v1beta1", "v1alpha1"]}
    found = controllers.states(RUNTIMES.operators(), served=served, now=NOW)
    assert list(found) == ["kserve"]
    assert found["kserve"].version == "v1beta1"


# What each project's own source names (read there, not from our declarations):
# ray-operator/main.go LeaderElectionID; kserve cmd/manager LeaderLockName; kaito
# cmd/workspace/main.go LeaderElectionID; the dynamo-platform chart's default
# --leader-election-id; lws cmd/main.go leader-elect-resource-name; keda cmd/operator
# LeaderElectionID.
UPSTREAM_LEASES = {
    "kuberay": "ray-operator-leader",
    "kserve": "kserve-controller-manager-leader-lock",
    "kaito": "ef60f9b0.io",
    "dynamo": "dynamo.nvidia.com",
    "lws": "b8b2488c.x-k8s.io",
    "keda": "operator.keda.sh",
    "external-secrets": "external-secrets-controller",
}


@pytest.mark.parametrize(("key", "name"), UPSTREAM_LEASES.items())
def test_declared_leases_are_the_operators_own_leader_election_ids(key: str, name: str) -> None:
    controller = OPERATORS[key].controller
    assert controller is not None
    assert name in controller.leases


def test_every_operator_a_runtime_needs_declares_a_controller_or_why_not() -> None:
    for operator in RUNTIMES.operators():
        assert (operator.controller is None) == bool(operator.alone), operator.key
        if operator.controller:
            assert operator.controller.install
            controller = operator.controller
            assert (
                controller.leases
                or controller.pods
                or controller.webhook_services
                or controller.gateway_controllers
            ), operator.key


def _facts(**states: str) -> ClusterFacts:
    operators = {
        k: OperatorStatus(state=s, version="v1", evidence=f"{k} evidence", fix=f"install {k}")  # type: ignore[arg-type]
        for k, s in states.items()
    }
    return ClusterFacts(
        installed_runtimes={k: "v1" for k, s in states.items() if s == "running"},
        operators=operators,
    )


def test_the_planner_picks_only_runtimes_whose_controller_runs() -> None:
    plan = rendering.plan("qwen2.5-7b")
    options = base.Options()
    facts = _facts(kserve="crds-only", kuberay="unknown")
    for name in ("kserve", "kuberay"):
        reason = choosing.unavailable(RUNTIMES.get(name), plan, options, facts)
        assert reason is not None
    crds_only = choosing.unavailable(RUNTIMES.get("kserve"), plan, options, facts)
    assert crds_only == (
        "kserve: only kserve's CRDs are installed: kserve evidence. To fix: install kserve"
    )
    chosen, _ = choosing.choose(plan, options, registry=RUNTIMES, facts=facts)
    assert chosen.name == "vllm"


def test_a_pinned_runtime_goes_ahead_where_rbac_hid_its_controller_but_not_on_crds_alone() -> None:
    options = base.Options()
    facts = _facts(kserve="crds-only", kuberay="unknown")
    pinned = rendering.plan("qwen2.5-7b", runtime="kuberay")
    runtime, plan = choosing.choose(pinned, options, registry=RUNTIMES, facts=facts)
    assert runtime.name == "kuberay"
    decision = next(d for d in plan.decisions if d.topic == "runtime")
    assert "whether kuberay's controller runs is unknown here" in decision.reason
    with pytest.raises(InvalidInputError, match="only kserve's CRDs are installed"):
        choosing.choose(
            rendering.plan("qwen2.5-7b", runtime="kserve"), options, registry=RUNTIMES, facts=facts
        )


GFD = {"nvidia.com/gpu.product": "NVIDIA-L4", "nvidia.com/gpu.count": "1",
       "nvidia.com/gpu.memory": "23034"}  # fmt: skip


@pytest.mark.parametrize(
    ("labels", "refused"),
    [
        ({"karpenter.k8s.aws/instance-gpu-name": "l4"}, True),
        ({"karpenter.k8s.aws/instance-gpu-name": "l4", **GFD}, False),
        (
            {"karpenter.k8s.aws/instance-gpu-name": "l4", "nvidia.com/gpu.product": "NVIDIA-L4"},
            True,
        ),
    ],
    ids=["no GFD labels", "GFD labels", "product only"],
)
def test_kaito_is_not_planned_onto_nodes_without_the_labels_it_reads(
    labels: dict[str, str], refused: bool
) -> None:
    pool = NodePool(
        name="l4", gpu="L4", gpus_per_node=1, nodes=4, instance_type="g6.xlarge", labels=labels
    )
    facts = ClusterFacts(
        cloud="aws",
        node_pools=(pool,),
        installed_runtimes={"kaito": "v1beta1"},
        operators={"kaito": OperatorStatus(state="running", version="v1beta1")},
    )
    plan = rendering.plan("qwen2.5-7b", facts=facts, runtime="kaito")
    reason = choosing.unavailable(RUNTIMES.get("kaito"), plan, base.Options(), facts)
    if refused:
        assert reason is not None
        assert reason.startswith("kaito: node pool l4's nodes lack nvidia.com/gpu.")
        assert "KAITO reads the GPU shape" in reason
        assert "GPU feature discovery" in reason
    else:
        assert reason is None
