"""NVIDIA Dynamo: the DynamoGraphDeployment carries the plan, the router follows the workload,
the graph is schema-valid against the real CRD and matches upstream's examples in substance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import SHARED
from tests.support import rendering

from kubefoundry.runtimes import base, choosing, dynamo
from kubefoundry.runtimes.common import pods

RUNTIME = dynamo.DynamoRuntime()
SAMPLES = SHARED / "upstream-samples" / "dynamo"


def _graph(out: base.Rendered) -> dict[str, Any]:
    (dgd,) = rendering.find(out.manifests, "DynamoGraphDeployment")
    return dgd


def _components(out: base.Rendered) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in _graph(out)["spec"]["components"]}


def _main(component: dict[str, Any]) -> dict[str, Any]:
    (container,) = component["podTemplate"]["spec"]["containers"]
    assert container["name"] == "main"
    return container


def _flag(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args else None


def _env(container: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((e for e in container.get("env", []) if e["name"] == name), None)


def _decision(out: base.Rendered, topic: str) -> Any:
    (found,) = [d for d in out.decisions if d.topic == topic]
    return found


def _workers(out: base.Rendered) -> list[dict[str, Any]]:
    return [c for c in _graph(out)["spec"]["components"] if c["type"] != "frontend"]


@pytest.mark.parametrize(
    "options",
    [
        base.Options(),
        base.Options(disaggregated=True, workload="rag", exposure="httproute", host="x.example"),
        base.Options(workload="batch", monitoring="none", cache=base.CacheOptions(enabled=False)),
    ],
    ids=["aggregated", "disaggregated", "batch-no-cache"],
)
def test_every_catalog_plan_renders_valid_or_is_refused_with_a_reason(
    options: base.Options,
) -> None:
    rendered = refused = 0
    for model, tier, plan in rendering.catalog_plans():
        reason = base.refusal(RUNTIME, plan, options)
        if reason:
            assert reason.startswith("dynamo: no "), (model, tier, reason)
            assert reason.endswith(")"), reason  # the limit's human reason
            refused += 1
            continue
        out = RUNTIME.render(choosing.adapt(plan, RUNTIME), options)
        assert rendering.schema_problems(out.manifests) == [], (model, tier)
        rendered += 1
    assert rendered
    print(f"dynamo: {rendered} rendered, {refused} refused")


def test_tp_gpus_probes_and_placement_on_every_worker_come_from_the_plan() -> None:
    plan = rendering.plan("llama-3.1-70b", gpu="H100", gpu_count=4)
    out = RUNTIME.render(plan, base.Options(disaggregated=True))
    assert len(_workers(out)) == 2
    for component in _workers(out):
        container = _main(component)
        args = container["args"]
        assert container["command"] == ["python3", "-m", "dynamo.vllm"]
        assert _flag(args, "--model") == plan.model_id
        assert _flag(args, "--tensor-parallel-size") == str(plan.tensor_parallel)
        assert _flag(args, "--max-model-len") == str(plan.max_model_len)
        assert "--port" not in args
        gpus = str(pods.gpus_per_pod(plan))
        assert container["resources"]["limits"]["nvidia.com/gpu"] == gpus
        assert container["resources"]["requests"]["nvidia.com/gpu"] == gpus
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= plan.probes.cold_start_s
        assert startup["httpGet"]["port"] == dynamo.SYSTEM_PORT
        spec = component["podTemplate"]["spec"]
        assert spec["nodeSelector"] == plan.node_selector
        assert spec["tolerations"] == [dict(t) for t in plan.tolerations]


def test_a_replica_spanning_nodes_is_a_multinode_component() -> None:
    plan = rendering.plan("llama-3.1-405b", gpu="H100")
    assert plan.nodes_per_replica > 1
    assert base.refusal(RUNTIME, plan, base.Options()) is None
    out = RUNTIME.render(plan, base.Options())
    (worker,) = _workers(out)
    assert worker["multinode"] == {"nodeCount": plan.nodes_per_replica}
    args = _main(worker)["args"]
    assert _flag(args, "--pipeline-parallel-size") == str(plan.pipeline_parallel)
    gpus = plan.gpu_count // plan.nodes_per_replica
    assert _main(worker)["resources"]["limits"]["nvidia.com/gpu"] == str(gpus)
    assert any("Grove" in w for w in out.warnings)


@pytest.mark.parametrize(
    ("workload", "disaggregated", "mode"),
    [
        ("chat", False, "kv"),
        ("rag", False, "kv"),
        ("agent", False, "kv"),
        ("batch", False, "round-robin"),
        ("chat", True, "round-robin"),  # one prefill worker: nothing to choose between
        ("rag", True, "kv"),  # three workers, two of them prefill
    ],
)
def test_router_mode_follows_the_workload_with_its_reason(
    workload: base.Workload, disaggregated: bool, mode: str
) -> None:
    plan = rendering.plan("qwen3-8b", gpu="H100", gpu_count=1, replicas=3 if disaggregated else 2)
    out = RUNTIME.render(plan, base.Options(workload=workload, disaggregated=disaggregated))
    frontend = _main(_components(out)[dynamo.FRONTEND])
    assert _env(frontend, dynamo.ROUTER_ENV) == {"name": dynamo.ROUTER_ENV, "value": mode}
    decision = _decision(out, "router mode")
    assert decision.choice.startswith(mode)
    assert decision.reason
    other = "round-robin" if mode == "kv" else "kv"
    assert [a.option for a in decision.alternatives] == [other]
    publishers = [c for c in _workers(out) if "--kv-events-config" in _main(c)["args"]]
    expected = {"worker", "prefill"} if mode == "kv" else set()
    assert {c["type"] for c in publishers} <= expected
    assert bool(publishers) == (mode == "kv")


def _count(out: base.Rendered, component: dict[str, Any]) -> int:
    """A component's count: its ``replicas``, or where its scaling adapter owns the field,
    the floor the ScaledObject holds it at."""
    if "replicas" in component:
        return int(component["replicas"])
    assert "scalingAdapter" in component
    (scaler,) = rendering.find(out.manifests, "ScaledObject")
    return int(scaler["spec"]["minReplicaCount"])


def test_disaggregation_renders_decode_and_prefill_pools() -> None:
    plan = rendering.plan("qwen3-8b", gpu="H100", gpu_count=1, replicas=3)
    out = RUNTIME.render(plan, base.Options(disaggregated=True, workload="rag"))
    types = {c["type"]: c for c in _graph(out)["spec"]["components"]}
    assert set(types) == {"frontend", "decode", "prefill"}
    for role in ("decode", "prefill"):
        args = _main(types[role])["args"]
        assert _flag(args, "--disaggregation-mode") == role
        transfer = _flag(args, "--kv-transfer-config")
        assert transfer is not None
        assert json.loads(transfer)["kv_connector"] == "NixlConnector"
    assert types["prefill"]["replicas"] == 2  # RAG: long prompts, prefill gets more
    assert _count(out, types["decode"]) == 1
    assert _decision(out, "disaggregation").reason


def test_disaggregating_one_replica_warns_about_the_extra_gpus() -> None:
    plan = rendering.plan("qwen3-0.6b", gpu="L4", gpu_count=1, replicas=1)
    out = RUNTIME.render(plan, base.Options(disaggregated=True))
    assert sum(_count(out, c) for c in _workers(out)) == 2
    assert any("2 GPUs where the plan priced 1" in w for w in out.warnings)


def test_the_pre_ga_api_is_named_in_a_warning() -> None:
    out = RUNTIME.render(rendering.plan("qwen3-0.6b", gpu="L4"), base.Options())
    assert _graph(out)["apiVersion"] == "nvidia.com/v1beta1"
    (warning,) = [w for w in out.warnings if "pre-GA" in w]
    assert "v1beta1" in warning
    assert "v1alpha1" in warning
    assert "deprecated" in warning


def test_autoscaling_drives_the_workers_through_the_scaling_adapter() -> None:
    plan = rendering.plan("qwen3-8b", gpu="H100", gpu_count=1)
    assert plan.autoscaling.max_replicas > plan.autoscaling.min_replicas
    out = RUNTIME.render(plan, base.Options())
    worker = _components(out)["VllmDecodeWorker"]
    assert worker["scalingAdapter"] == {}
    # The adapter owns the count (its webhook refuses a changed one): none of ours, and the
    # ScaledObject's floor is the plan's replicas.
    assert "replicas" not in worker
    assert _count(out, worker) == plan.replicas
    assert "scalingAdapter" not in _components(out)[dynamo.FRONTEND]
    (scaler,) = rendering.find(out.manifests, "ScaledObject")
    assert scaler["spec"]["scaleTargetRef"] == {
        "apiVersion": "nvidia.com/v1beta1",
        "kind": "DynamoGraphDeploymentScalingAdapter",
        "name": f"{plan.name}-vllmdecodeworker",
    }
    assert scaler["spec"]["minReplicaCount"] == plan.autoscaling.min_replicas
    assert scaler["spec"]["maxReplicaCount"] == plan.autoscaling.max_replicas
    assert scaler["spec"]["cooldownPeriod"] == plan.autoscaling.cooldown_s


def test_scale_to_zero_keeps_one_replica_warm_with_the_reason() -> None:
    plan = rendering.plan("qwen3-8b", tier="good")
    assert plan.autoscaling.scale_to_zero
    assert base.refusal(RUNTIME, plan, base.Options()) is None
    adapted = choosing.adapt(plan, RUNTIME)
    assert adapted.autoscaling.min_replicas == 1
    assert not adapted.autoscaling.scale_to_zero
    decision = adapted.decisions[-1]
    assert decision.topic == "scale to zero"
    assert "404" in decision.reason


def test_the_token_is_only_referenced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", rendering.CANARY)
    plan = rendering.plan("llama-3.1-8b", gpu="L4", hf_token_secret="hf-token")
    out = RUNTIME.render(plan, base.Options(disaggregated=True))
    assert rendering.CANARY not in set(map(str, rendering.walk(list(out.manifests))))
    for component in _graph(out)["spec"]["components"]:
        token = _env(_main(component), "HF_TOKEN")
        assert token == {
            "name": "HF_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}},
        }


def test_model_cache_is_mounted_on_workers_and_sized_disk_without_it() -> None:
    plan = rendering.plan("qwen3-8b", gpu="L4")
    out = RUNTIME.render(plan, base.Options())
    (worker,) = _workers(out)
    assert _main(worker)["volumeMounts"] == [{"name": "model-cache", "mountPath": "/models"}]
    claim = worker["podTemplate"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
    (pvc,) = rendering.find(out.manifests, "PersistentVolumeClaim")
    assert claim == pvc["metadata"]["name"]
    bare = RUNTIME.render(plan, base.Options(cache=base.CacheOptions(enabled=False)))
    (worker,) = _workers(bare)
    assert "ephemeral-storage" in _main(worker)["resources"]["requests"]
    assert not rendering.find(bare.manifests, "PersistentVolumeClaim")


def test_a_custom_image_without_a_version_tag_declares_the_runtime_version() -> None:
    plan = rendering.plan("qwen3-0.6b", gpu="L4")
    out = RUNTIME.render(plan, base.Options(image="registry.example/dynamo:latest"))
    for component in _graph(out)["spec"]["components"]:
        assert component["runtimeVersionOverride"] == dynamo.DYNAMO_VERSION
    pinned = RUNTIME.render(plan, base.Options())
    assert all("runtimeVersionOverride" not in c for c in _graph(pinned)["spec"]["components"])


def test_every_object_is_labelled_and_the_graph_is_the_root() -> None:
    plan = rendering.plan("qwen3-8b", gpu="L4")
    out = RUNTIME.render(plan, base.Options(exposure="httproute"))
    roots = [
        m for m in out.manifests if "kubefoundry.io/root" in m["metadata"].get("annotations", {})
    ]
    assert [r["kind"] for r in roots] == ["DynamoGraphDeployment"]
    for m in out.manifests:
        assert m["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubefoundry"
    (route,) = rendering.find(out.manifests, "HTTPRoute")
    backend = route["spec"]["rules"][0]["backendRefs"][0]
    assert backend == {"name": f"{plan.name}-frontend", "port": dynamo.FRONTEND_PORT}


# --- golden files ---------------------------------------------------------------------------


def test_golden_aggregated_chat() -> None:
    plan = rendering.plan("qwen3-8b", tier="better", gpu="L4", cloud="gcp")
    options = base.Options(exposure="httproute", host="llm.example.com")
    rendering.assert_golden(
        "dynamo/qwen3-8b-aggregated-chat", RUNTIME.render(plan, options).manifests
    )


def test_golden_disaggregated_rag_gated() -> None:
    plan = rendering.plan("llama-3.1-70b", tier="better", gpu="H100", gpu_count=4, replicas=3)
    options = base.Options(disaggregated=True, workload="rag", monitoring="podmonitor")
    rendering.assert_golden(
        "dynamo/llama-3.1-70b-disaggregated-rag", RUNTIME.render(plan, options).manifests
    )


# --- the same scenario as upstream's examples -----------------------------------------------


def _sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(Path(SAMPLES / name).read_text())
    return data


def _sample_components(sample: dict[str, Any]) -> dict[str, dict[str, Any]]:
    if "components" in sample["spec"]:
        return {c["name"]: c for c in sample["spec"]["components"]}
    return dict(sample["spec"]["services"])  # v1alpha1: a map keyed by name


def _sample_main(component: dict[str, Any]) -> dict[str, Any]:
    if "podTemplate" in component:
        return _main(component)
    main: dict[str, Any] = component["extraPodSpec"]["mainContainer"]
    return main


def _sample_gpus(component: dict[str, Any]) -> str | None:
    if "podTemplate" in component:
        return _main(component).get("resources", {}).get("limits", {}).get("nvidia.com/gpu")
    gpu: str | None = component.get("resources", {}).get("limits", {}).get("gpu")
    return gpu


def _role(container: dict[str, Any]) -> tuple[str | None, Any]:
    """A worker's disaggregation mode and KV transfer settings (parsed: spacing may differ)."""
    args = container.get("args", [])
    transfer = _flag(args, "--kv-transfer-config")
    return _flag(args, "--disaggregation-mode"), transfer and json.loads(transfer)


def _type(component: dict[str, Any]) -> str:
    """v1beta1's type; v1alpha1 said worker with a decode/prefill sub-type."""
    return str(
        component.get("type") or component.get("subComponentType") or component["componentType"]
    )


@pytest.mark.parametrize(
    ("sample", "disaggregated"),
    [
        ("vllm-agg.yaml", False),
        ("vllm-agg.v1alpha1.yaml", False),
        ("vllm-disagg.yaml", True),
        ("vllm-disagg.v1alpha1.yaml", True),
    ],
)
def test_same_graph_as_upstream_examples(sample: str, disaggregated: bool) -> None:
    upstream = _sample(sample)
    assert rendering.schema_problems([upstream]) == []
    # Upstream's scenario: Qwen3-0.6B, one GPU per worker, one replica of each component.
    plan = rendering.plan("qwen3-0.6b", gpu="L4", gpu_count=1, replicas=1)
    options = base.Options(disaggregated=disaggregated, workload="batch")
    out = RUNTIME.render(plan, options)
    ours, theirs = _components(out), _sample_components(upstream)
    assert _graph(out)["kind"] == upstream["kind"]
    assert {n: _type(c) for n, c in ours.items()} == {n: _type(c) for n, c in theirs.items()}
    for name, component in ours.items():
        their, our = _sample_main(theirs[name]), _main(component)
        assert _count(out, component) == theirs[name]["replicas"]
        assert our.get("command") == their.get("command")
        assert _flag(our.get("args", []), "--model") == _flag(their.get("args", []), "--model")
        (mode, transfer), (their_mode, their_transfer) = _role(our), _role(their)
        assert mode == their_mode
        if their_transfer:  # the Dynamo 1.3 (v1alpha1) examples left the NIXL default implicit
            assert transfer == their_transfer
        if _type(component) != "frontend":
            assert our["resources"]["limits"]["nvidia.com/gpu"] == _sample_gpus(theirs[name])
    # Upstream's Frontend sets no router mode: round-robin, which a batch workload gets too.
    router = _env(_main(ours[dynamo.FRONTEND]), dynamo.ROUTER_ENV)
    assert router == {"name": dynamo.ROUTER_ENV, "value": "round-robin"}
    assert _env(_sample_main(theirs[dynamo.FRONTEND]), dynamo.ROUTER_ENV) is None
