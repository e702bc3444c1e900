"""LeaderWorkerSet: one group per replica, one pod per node, Ray or vLLM's own multi-node."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
import yaml
from tests.conftest import SHARED
from tests.support import rendering

from kubefoundry.planning.plans import Plan
from kubefoundry.runtimes import base, lws

RUNTIME = lws.LwsRuntime()
SAMPLE = SHARED / "upstream-samples" / "lws" / "vllm-gpu-lws.yaml"
PLANS = rendering.catalog_plans()
MODES: tuple[base.Options, ...] = (
    base.Options(multi_node="ray", exposure="httproute", host="llm.example.com"),
    base.Options(multi_node="native", monitoring="podmonitor", exposure="ingress"),
)


def _lws(manifests: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    (lws_object,) = rendering.find(manifests, "LeaderWorkerSet")
    return lws_object


def _template(lws_object: dict[str, Any], role: str) -> dict[str, Any]:
    template: dict[str, Any] = lws_object["spec"]["leaderWorkerTemplate"][f"{role}Template"]
    return template


def _container(lws_object: dict[str, Any], role: str) -> dict[str, Any]:
    container: dict[str, Any] = _template(lws_object, role)["spec"]["containers"][0]
    return container


def _words(container: dict[str, Any]) -> list[str]:
    """The command line a container runs, split into words (shell scripts included)."""
    words = [*container.get("command", []), *container.get("args", [])]
    return [w for part in words for w in shlex.split(part)]


def _flag(words: list[str], *names: str) -> str | None:
    for name in names:
        if name in words:
            return words[words.index(name) + 1]
    return None


def _multi_node() -> Plan:
    return rendering.plan("llama-3.1-405b", gpu="H100")


@pytest.mark.parametrize(("model", "tier", "plan"), PLANS, ids=[f"{m}-{t}" for m, t, _ in PLANS])
@pytest.mark.parametrize("options", MODES, ids=["ray", "native"])
def test_every_catalog_plan_renders_valid_objects(
    model: str, tier: str, plan: Plan, options: base.Options
) -> None:
    assert base.refusal(RUNTIME, plan, options) is None
    out = RUNTIME.render(plan, options)
    assert rendering.schema_problems(out.manifests) == []
    assert _lws(out.manifests)["spec"]["leaderWorkerTemplate"]["size"] == plan.nodes_per_replica


@pytest.mark.parametrize(
    ("options", "fix"),
    [
        (base.Options(disaggregated=True), "dynamo"),
        (base.Options(platform="xeon"), "kserve"),
    ],
)
def test_what_it_cannot_serve_is_refused_with_the_runtime_to_use(
    options: base.Options, fix: str
) -> None:
    reason = base.refusal(RUNTIME, _multi_node(), options)
    assert reason
    assert fix in reason


@pytest.mark.parametrize("options", MODES, ids=["ray", "native"])
@pytest.mark.parametrize(
    "plan",
    [rendering.plan("llama-3.1-405b", gpu="H100"), rendering.plan("llama-3.1-405b", tier="good")],
    ids=["tp8-pp2-2-nodes", "tp8-pp4-4-nodes"],
)
def test_a_group_holds_exactly_the_replicas_gpus(plan: Plan, options: base.Options) -> None:
    manifests = RUNTIME.render(plan, options).manifests
    lws_object = _lws(manifests)
    size = lws_object["spec"]["leaderWorkerTemplate"]["size"]
    assert size == plan.nodes_per_replica > 1
    assert rendering.replicas(manifests, lws_object) == plan.replicas
    per_pod = [
        int(_container(lws_object, role)["resources"]["limits"][plan.gpu_resource])
        for role in ("leader", "worker")
    ]
    assert per_pod[0] == per_pod[1] <= plan.gpus_per_node
    assert per_pod[0] * size == plan.gpu_count == plan.tensor_parallel * plan.pipeline_parallel
    words = _words(_container(lws_object, "leader"))
    assert _flag(words, "--tensor-parallel-size") == str(plan.tensor_parallel)
    assert _flag(words, "--pipeline-parallel-size") == str(plan.pipeline_parallel)
    assert _flag(words, "--max-model-len") == str(plan.max_model_len)


def test_ray_mode_starts_a_head_waits_for_the_group_and_workers_join_it() -> None:
    plan = _multi_node()
    lws_object = _lws(RUNTIME.render(plan, base.Options(multi_node="ray")).manifests)
    leader = _container(lws_object, "leader")
    script = leader["args"][0]
    words = _words(leader)
    assert "--head" in words
    assert f"--num-gpus={plan.gpu_count // plan.nodes_per_replica}" in words
    assert "LWS_GROUP_SIZE" in script  # waits for every pod of the group before serving
    assert script.index("ray start") < script.index("LWS_GROUP_SIZE") < script.index("vllm")
    assert _flag(words, "--distributed-executor-backend") == "ray"
    worker = _container(lws_object, "worker")
    worker_script = worker["args"][0]
    assert "$LWS_LEADER_ADDRESS:6379" in worker_script
    assert "ray start --address" in worker_script
    assert "--block" in _words(worker)
    assert "vllm serve" not in worker_script


def test_native_mode_uses_vllms_own_multi_node_flags() -> None:
    plan = _multi_node()
    lws_object = _lws(RUNTIME.render(plan, base.Options(multi_node="native")).manifests)
    leader, worker = (_words(_container(lws_object, role)) for role in ("leader", "worker"))
    for words in (leader, worker):
        assert words[:2] == ["vllm", "serve"]
        assert _flag(words, "--nnodes") == str(plan.nodes_per_replica)
        assert _flag(words, "--master-addr") == "$(LWS_LEADER_ADDRESS)"
        assert _flag(words, "--distributed-executor-backend") == "mp"
        assert _flag(words, "--tensor-parallel-size") == str(plan.tensor_parallel)
    assert _flag(leader, "--node-rank") == "0"
    assert _flag(worker, "--node-rank") == "$(LWS_WORKER_INDEX)"
    assert "--headless" in worker
    assert "--headless" not in leader


@pytest.mark.parametrize("options", MODES, ids=["ray", "native"])
def test_only_the_leader_serves_and_is_probed(options: base.Options) -> None:
    plan = _multi_node()
    out = RUNTIME.render(plan, options)
    lws_object = _lws(out.manifests)
    leader, worker = _container(lws_object, "leader"), _container(lws_object, "worker")
    startup = leader["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= plan.probes.cold_start_s
    assert not {"ports", "startupProbe", "readinessProbe", "livenessProbe"} & set(worker)
    (service,) = rendering.find(out.manifests, "Service")
    selector = service["spec"]["selector"]
    assert selector.items() <= _template(lws_object, "leader")["metadata"]["labels"].items()
    assert not selector.items() <= _template(lws_object, "worker")["metadata"]["labels"].items()


def test_the_leader_service_leaves_the_lws_name_to_the_lws_controller() -> None:
    """The LWS controller creates a headless Service named after the LeaderWorkerSet (the
    workers reach the leader at <leader pod>.<name>); ours is <name>-leader, as upstream's."""
    plan = _multi_node()
    out = RUNTIME.render(plan, base.Options(exposure="httproute", host="llm.example.com"))
    (service,) = rendering.find(out.manifests, "Service")
    assert (
        service["metadata"]["name"]
        == f"{plan.name}-leader"
        != _lws(out.manifests)["metadata"]["name"]
    )
    (route,) = rendering.find(out.manifests, "HTTPRoute")
    assert route["spec"]["rules"][0]["backendRefs"][0]["name"] == service["metadata"]["name"]


def test_the_token_and_the_cache_reach_every_pod_of_a_group() -> None:
    plan = _multi_node()
    assert plan.gated
    lws_object = _lws(RUNTIME.render(plan, base.Options()).manifests)
    for role in ("leader", "worker"):
        container = _container(lws_object, role)
        (token,) = [e for e in container["env"] if e["name"] == "HF_TOKEN"]
        assert "value" not in token
        assert token["valueFrom"]["secretKeyRef"]["name"] == f"{plan.name}-hf-token"
        assert {"name": "model-cache", "mountPath": "/models"} in container["volumeMounts"]
        pod = _template(lws_object, role)["spec"]
        assert pod["nodeSelector"] == plan.node_selector


def test_keda_scales_the_leader_worker_set_by_whole_groups() -> None:
    plan = _multi_node()
    out = RUNTIME.render(plan, base.Options())
    (scaled,) = rendering.find(out.manifests, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"] == {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "name": plan.name,
    }
    assert scaled["spec"]["minReplicaCount"] == plan.autoscaling.min_replicas
    assert scaled["spec"]["maxReplicaCount"] == plan.autoscaling.max_replicas


def test_scale_to_zero_keeps_the_scaler_at_zero() -> None:
    plan = rendering.plan("llama-3.1-405b", tier="good")
    assert plan.autoscaling.scale_to_zero
    (scaled,) = rendering.find(RUNTIME.render(plan, base.Options()).manifests, "ScaledObject")
    assert scaled["spec"]["minReplicaCount"] == 0


def test_the_disruption_budget_counts_leaders_and_workers() -> None:
    out = RUNTIME.render(_multi_node(), base.Options())
    (pdb,) = rendering.find(out.manifests, "PodDisruptionBudget")
    selector = pdb["spec"]["selector"]["matchLabels"]
    lws_object = _lws(out.manifests)
    for role in ("leader", "worker"):
        assert selector.items() <= _template(lws_object, role)["metadata"]["labels"].items()
    assert pdb["spec"]["maxUnavailable"] == 1


def test_a_single_node_plan_is_one_plain_vllm_pod_per_group() -> None:
    plan = rendering.plan("qwen2.5-7b")
    out = RUNTIME.render(plan, base.Options(multi_node="ray"))
    lws_object = _lws(out.manifests)
    assert lws_object["spec"]["leaderWorkerTemplate"]["size"] == 1
    words = _words(_container(lws_object, "leader"))
    assert words[:3] == ["vllm", "serve", plan.model_id]
    assert "ray" not in words
    assert "--nnodes" not in words
    assert out.decisions[0].topic == "multi-node"


def test_every_object_is_labelled_and_the_leader_worker_set_is_the_root() -> None:
    out = RUNTIME.render(_multi_node(), base.Options(exposure="httproute"))
    roots = [
        m for m in out.manifests if "kubefoundry.io/root" in m["metadata"].get("annotations", {})
    ]
    assert [m["kind"] for m in roots] == ["LeaderWorkerSet"]
    for m in out.manifests:
        assert m["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubefoundry"


@pytest.mark.parametrize("options", MODES, ids=["ray", "native"])
def test_golden_llama_405b_two_nodes(options: base.Options) -> None:
    out = RUNTIME.render(_multi_node(), options)
    rendering.assert_golden(f"lws/llama-3.1-405b-h100-{options.multi_node}", out.manifests)


def test_same_substance_as_the_upstream_sample() -> None:
    """Upstream: Llama-3.1-405B, TP 8 × PP 2 on two 8-GPU nodes, two groups, Ray."""
    theirs = list(yaml.safe_load_all(SAMPLE.read_text()))
    ours = RUNTIME.render(_multi_node(), base.Options(multi_node="ray")).manifests
    assert {m["kind"] for m in theirs} <= {m["kind"] for m in ours}
    their_lws, our_lws = _lws(tuple(theirs)), _lws(ours)
    assert rendering.replicas(ours, our_lws) == their_lws["spec"]["replicas"]
    for key in ("size", "restartPolicy"):
        assert (
            our_lws["spec"]["leaderWorkerTemplate"][key]
            == their_lws["spec"]["leaderWorkerTemplate"][key]
        )
    for role in ("leader", "worker"):
        ours_gpu = _container(our_lws, role)["resources"]["limits"]["nvidia.com/gpu"]
        assert ours_gpu == _container(their_lws, role)["resources"]["limits"]["nvidia.com/gpu"]
    their_leader, our_leader = (
        _words(_container(their_lws, "leader")),
        _words(_container(our_lws, "leader")),
    )
    for names in (
        ("--tensor-parallel-size",),
        ("--pipeline-parallel-size", "--pipeline_parallel_size"),
    ):
        assert _flag(our_leader, *names) == _flag(their_leader, *names)
    assert _flag(their_leader, "--model") in our_leader
    # Both leaders size the Ray cluster from the group; both workers join the leader's address.
    assert "LWS_GROUP_SIZE" in " ".join(their_leader)
    assert "LWS_GROUP_SIZE" in " ".join(our_leader)
    for lws_object in (their_lws, our_lws):
        assert "LWS_LEADER_ADDRESS" in " ".join(_words(_container(lws_object, "worker")))
    (their_service,) = rendering.find(theirs, "Service")
    (our_service,) = rendering.find(ours, "Service")
    assert their_service["spec"]["type"] == our_service["spec"]["type"] == "ClusterIP"
    assert their_service["spec"]["selector"]["role"] == "leader"
    assert our_service["spec"]["selector"]["app.kubernetes.io/component"] == "leader"
