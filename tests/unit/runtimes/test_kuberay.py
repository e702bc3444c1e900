"""KubeRay: serveConfigV2 generated from data, GPUs and versions derived once, schema-valid."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import SHARED
from tests.support import rendering

from kubefoundry.core.errors import InvalidInputError
from kubefoundry.planning.plans import Plan
from kubefoundry.runtimes import base, choosing, kuberay, registry
from kubefoundry.runtimes.common import engine

RUNTIME = kuberay.KubeRayRuntime()
SAMPLES = SHARED / "upstream-samples" / "kuberay"
PLANS = rendering.catalog_plans()


def _ray_service(manifests: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    (service,) = rendering.find(manifests, "RayService")
    return service


def _llm_config(service: dict[str, Any]) -> dict[str, Any]:
    app = yaml.safe_load(service["spec"]["serveConfigV2"])["applications"][0]
    config: dict[str, Any] = app["args"]["llm_configs"][0]
    return config


def _head(service: dict[str, Any]) -> dict[str, Any]:
    head: dict[str, Any] = service["spec"]["rayClusterConfig"]["headGroupSpec"]
    return head


def _worker(service: dict[str, Any]) -> dict[str, Any]:
    (group,) = service["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    worker: dict[str, Any] = group
    return worker


def _container(group: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = group["template"]["spec"]["containers"][0]
    return container


def _multi_node() -> Plan:
    return rendering.plan("llama-3.1-405b", gpu="H100")


@pytest.mark.parametrize(("model", "tier", "plan"), PLANS, ids=[f"{m}-{t}" for m, t, _ in PLANS])
def test_every_catalog_plan_renders_valid_objects(model: str, tier: str, plan: Plan) -> None:
    options = base.Options(exposure="httproute", host="llm.example.com")
    assert base.refusal(RUNTIME, plan, options) is None
    out = RUNTIME.render(plan, options)
    assert rendering.schema_problems(out.manifests) == []


@pytest.mark.parametrize(
    ("options", "fix"),
    [
        (base.Options(disaggregated=True), "dynamo"),
        (base.Options(platform="gaudi"), "kserve"),
    ],
)
def test_what_it_cannot_serve_is_refused_with_the_runtime_to_use(
    options: base.Options, fix: str
) -> None:
    reason = base.refusal(RUNTIME, rendering.plan("qwen2.5-7b"), options)
    assert reason
    assert fix in reason


@pytest.mark.parametrize(
    "plan",
    [
        rendering.plan("qwen2.5-7b"),
        rendering.plan("llama-3.1-70b", tier="better", gpu="H100", gpu_count=4),
        rendering.plan("llama-3.1-405b", gpu="H100"),
        rendering.plan("llama-3.1-405b", tier="good"),
    ],
    ids=["1-gpu", "tp4", "tp8-pp2-2-nodes", "tp8-pp4-4-nodes"],
)
def test_worker_pods_hold_exactly_the_gpus_ray_serve_asks_for(plan: Plan) -> None:
    service = _ray_service(RUNTIME.render(plan, base.Options()).manifests)
    worker = _worker(service)
    limit = int(_container(worker)["resources"]["limits"][plan.gpu_resource])
    bundles = _llm_config(service)["placement_group_config"]["bundles"]
    asked = sum(b["GPU"] for b in bundles)
    assert asked == plan.tensor_parallel * plan.pipeline_parallel == limit * plan.nodes_per_replica
    assert all(b["GPU"] <= limit for b in bundles)  # every bundle fits one pod
    assert worker["rayStartParams"]["num-gpus"] == str(limit)
    assert limit <= plan.gpus_per_node
    engine_kwargs = _llm_config(service)["engine_kwargs"]
    assert engine_kwargs["tensor_parallel_size"] == plan.tensor_parallel
    assert engine_kwargs["pipeline_parallel_size"] == plan.pipeline_parallel
    strategy = _llm_config(service)["placement_group_config"]["strategy"]
    assert strategy == ("STRICT_PACK" if plan.nodes_per_replica == 1 else "PACK")
    # The replica actor takes no GPUs of its own: the bundles carry them all.
    assert "ray_actor_options" not in _llm_config(service)["deployment_config"]


@pytest.mark.parametrize(
    "change",
    [{"gpu_count": 12}, {"nodes_per_replica": 3}, {"gpus_per_node": 4}],
    ids=["tp-pp-not-the-gpus", "uneven-split", "pod-larger-than-node"],
)
def test_a_plan_whose_gpus_do_not_add_up_is_refused_before_it_hangs(
    change: dict[str, int],
) -> None:
    plan = dataclasses.replace(_multi_node(), **change)
    with pytest.raises(InvalidInputError) as err:
        RUNTIME.render(plan, base.Options())
    assert err.value.hint


def test_the_head_takes_no_gpus_and_offers_only_the_ingress_cpus() -> None:
    service = _ray_service(RUNTIME.render(_multi_node(), base.Options()).manifests)
    head = _head(service)
    assert head["rayStartParams"]["num-gpus"] == "0"
    resources = _container(head)["resources"]
    offered = int(head["rayStartParams"]["num-cpus"])
    assert 0 < offered < int(resources["limits"]["cpu"])  # some left for GCS and the controller
    assert not any("gpu" in key for part in resources.values() for key in part)
    assert "nodeSelector" not in head["template"]["spec"]


def test_multi_node_replicas_place_workers_with_the_plan() -> None:
    plan = _multi_node()
    worker = _worker(_ray_service(RUNTIME.render(plan, base.Options()).manifests))
    spec = worker["template"]["spec"]
    assert spec["nodeSelector"] == plan.node_selector
    assert spec["tolerations"] == [dict(t) for t in plan.tolerations]
    assert worker["replicas"] == plan.replicas * plan.nodes_per_replica


def test_ray_version_is_read_from_the_image_tag() -> None:
    service = _ray_service(RUNTIME.render(rendering.plan("qwen2.5-7b"), base.Options()).manifests)
    version = service["spec"]["rayClusterConfig"]["rayVersion"]
    assert version == kuberay.RAY_VERSION
    for group in (_head(service), _worker(service)):
        assert engine.image_tag(_container(group)["image"]).split("-")[0] == version


def test_an_image_override_moves_the_ray_version_with_it() -> None:
    options = base.Options(image="registry.example.com/ray-llm:2.53.1-py311-cu128")
    service = _ray_service(RUNTIME.render(rendering.plan("qwen2.5-7b"), options).manifests)
    assert service["spec"]["rayClusterConfig"]["rayVersion"] == "2.53.1"
    assert _container(_worker(service))["image"] == options.image


def test_an_image_without_a_ray_version_is_refused_with_a_fix() -> None:
    options = base.Options(image="registry.example.com/ray-llm:latest")
    with pytest.raises(InvalidInputError, match="Ray version") as err:
        RUNTIME.render(rendering.plan("qwen2.5-7b"), options)
    assert err.value.hint


def test_serve_config_is_the_yaml_of_the_generated_structure() -> None:
    plan = _multi_node()
    service = _ray_service(RUNTIME.render(plan, base.Options()).manifests)
    text = service["spec"]["serveConfigV2"]
    assert yaml.safe_load(text) == kuberay.serve_config(plan)
    (app,) = yaml.safe_load(text)["applications"]
    assert app["import_path"] == "ray.serve.llm:build_openai_app"
    loading = app["args"]["llm_configs"][0]["model_loading_config"]
    assert loading == {"model_id": plan.model_id, "model_source": plan.model_id}


def test_the_token_comes_from_its_secret_on_every_pod_and_never_via_runtime_env() -> None:
    plan = _multi_node()
    assert plan.gated
    service = _ray_service(RUNTIME.render(plan, base.Options()).manifests)
    assert "runtime_env" not in service["spec"]["serveConfigV2"]
    assert "TOKEN" not in service["spec"]["serveConfigV2"]
    for group in (_head(service), _worker(service)):
        (token,) = [e for e in _container(group)["env"] if e["name"] == "HF_TOKEN"]
        assert "value" not in token
        assert token["valueFrom"]["secretKeyRef"]["name"] == f"{plan.name}-hf-token"


def test_engine_kwargs_are_the_flags_vllm_gets_everywhere() -> None:
    plan = rendering.plan("llama-3.1-8b", gpu="H100", kv_cache_dtype="fp8", quantization="fp8")
    kwargs = kuberay.engine_kwargs(plan)
    assert kwargs["kv_cache_dtype"] == "fp8"
    assert kwargs["quantization"] == "fp8"
    assert kwargs["max_model_len"] == plan.max_model_len
    assert kwargs["gpu_memory_utilization"] == plan.gpu_memory_utilization
    assert kwargs["enable_prefix_caching"] is plan.prefix_caching
    flags = {a.removeprefix("--").replace("-", "_") for a in engine.args(plan) if a[:2] == "--"}
    # Ray Serve LLM names the model and the port itself; PP is always stated, 1 included.
    assert set(kwargs) == flags - {"served_model_name", "port"} | {"pipeline_parallel_size"}


def test_a_prequantized_checkpoint_gets_no_quantization_kwarg() -> None:
    plan = rendering.plan("RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic", gpu="H100")
    assert plan.quantization
    assert "quantization" not in kuberay.engine_kwargs(plan)


def test_scale_to_zero_maps_to_ray_serve_and_the_worker_group() -> None:
    plan = rendering.plan("qwen2.5-7b", tier="good")
    assert plan.autoscaling.scale_to_zero
    service = _ray_service(RUNTIME.render(plan, base.Options()).manifests)
    autoscaling = _llm_config(service)["deployment_config"]["autoscaling_config"]
    assert autoscaling["min_replicas"] == 0
    assert autoscaling["max_replicas"] == plan.autoscaling.max_replicas
    assert autoscaling["downscale_delay_s"] == plan.autoscaling.cooldown_s
    # Ray Serve's target is the plan's: requests running per replica within the latency
    # targets (vllm:num_requests_running), never more than the engine admits.
    assert plan.autoscaling.signal == "vllm:num_requests_running"
    assert autoscaling["target_ongoing_requests"] == min(
        plan.autoscaling.target, plan.memory.max_num_seqs
    )
    assert service["spec"]["rayClusterConfig"]["enableInTreeAutoscaling"] is True
    worker = _worker(service)
    assert worker["minReplicas"] == 0
    assert worker["maxReplicas"] == plan.autoscaling.max_replicas * plan.nodes_per_replica


def test_a_fixed_replica_count_turns_the_autoscalers_off() -> None:
    plan = rendering.plan("qwen2.5-7b", replicas=6)
    assert plan.autoscaling.min_replicas == plan.autoscaling.max_replicas
    service = _ray_service(RUNTIME.render(plan, base.Options()).manifests)
    deployment = _llm_config(service)["deployment_config"]
    assert deployment["num_replicas"] == 6
    assert "autoscaling_config" not in deployment
    assert service["spec"]["rayClusterConfig"]["enableInTreeAutoscaling"] is False
    worker = _worker(service)
    assert worker["minReplicas"] == worker["replicas"] == worker["maxReplicas"] == 6


def test_engine_start_limit_is_sized_for_the_model() -> None:
    plan = _multi_node()
    service = _ray_service(RUNTIME.render(plan, base.Options()).manifests)
    env = {e["name"]: e.get("value") for e in _container(_worker(service))["env"]}
    assert env[kuberay.ENGINE_START_TIMEOUT] == str(plan.probes.startup_budget_s)
    assert plan.probes.startup_budget_s >= plan.probes.cold_start_s


@pytest.mark.parametrize(("gpu", "ray_type"), [("H100", "H100"), ("A100", "A100"), ("L4", "L4")])
def test_accelerator_type_is_the_one_ray_detects(gpu: str, ray_type: str) -> None:
    config = kuberay.llm_config(rendering.plan("qwen2.5-7b", gpu=gpu))
    assert config["accelerator_type"] == ray_type


def test_a_gpu_ray_cannot_name_gets_no_accelerator_type_and_a_warning() -> None:
    plan = rendering.plan("qwen2.5-7b", gpu="A10")
    out = RUNTIME.render(plan, base.Options())
    assert "accelerator_type" not in _llm_config(_ray_service(out.manifests))
    assert any("accelerator type" in w for w in out.warnings)


def test_the_plan_is_made_for_the_vllm_the_ray_llm_image_runs() -> None:
    plan = rendering.plan("qwen2.5-7b", runtime="kuberay", vllm_version="0.34.0")
    _, ours = choosing.choose(plan, base.Options(), registry=registry.default())
    assert ours.engine_version == kuberay.VLLM_VERSION
    assert any(d.topic == "engine" for d in ours.decisions)
    assert not [w for w in RUNTIME.render(ours, base.Options()).warnings if "memory plan" in w]
    # An image of the user's brings a vLLM we do not know: the plan keeps its own, and says so.
    mine = base.Options(image="registry.example.com/ray-llm:2.60.0-py311-cu128")
    _, theirs = choosing.choose(plan, mine, registry=registry.default())
    assert theirs.engine_version == "0.34.0"
    (warning,) = [w for w in RUNTIME.render(theirs, mine).warnings if "memory plan" in w]
    assert "registry.example.com/ray-llm:2.60.0-py311-cu128, not vLLM 0.34.0" in warning


def test_a_vllm_that_budgets_memory_otherwise_keeps_the_plan_and_warns() -> None:
    plan = rendering.plan("qwen2.5-7b", runtime="kuberay", vllm_version="0.10.0")
    _, chosen = choosing.choose(plan, base.Options(), registry=registry.default())
    assert chosen.engine_version == "0.10.0"
    (warning,) = [w for w in RUNTIME.render(chosen, base.Options()).warnings if "memory plan" in w]
    assert f"(vLLM {kuberay.VLLM_VERSION}), not vLLM 0.10.0" in warning


def test_traffic_goes_to_the_serve_service_kuberay_creates() -> None:
    plan = rendering.plan("qwen2.5-7b")
    out = RUNTIME.render(plan, base.Options(exposure="httproute"))
    (route,) = rendering.find(out.manifests, "HTTPRoute")
    backend = route["spec"]["rules"][0]["backendRefs"][0]
    assert backend == {"name": f"{plan.name}-serve-svc", "port": kuberay.SERVE_PORT}
    ports = {
        p["name"]: p["containerPort"]
        for p in _container(_head(_ray_service(out.manifests)))["ports"]
    }
    assert ports["serve"] == kuberay.SERVE_PORT


@pytest.mark.parametrize("monitoring", ["servicemonitor", "podmonitor"])
def test_metrics_are_scraped_from_every_ray_pod(monitoring: base.Monitoring) -> None:
    plan = rendering.plan("qwen2.5-7b")
    out = RUNTIME.render(plan, base.Options(monitoring=monitoring))
    assert rendering.find(out.manifests, "ServiceMonitor") == []
    (monitor,) = rendering.find(out.manifests, "PodMonitor")
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    selector = monitor["spec"]["selector"]["matchLabels"]
    service = _ray_service(out.manifests)
    for group in (_head(service), _worker(service)):
        assert selector.items() <= group["template"]["metadata"]["labels"].items()
        assert "metrics" in {p["name"] for p in _container(group)["ports"]}


def test_no_monitor_when_monitoring_is_off() -> None:
    out = RUNTIME.render(rendering.plan("qwen2.5-7b"), base.Options(monitoring="none"))
    assert rendering.find(out.manifests, "PodMonitor") == []


def test_every_object_is_labelled_and_the_ray_service_is_the_root() -> None:
    out = RUNTIME.render(_multi_node(), base.Options(exposure="httproute"))
    roots = [
        m for m in out.manifests if "kubefoundry.io/root" in m["metadata"].get("annotations", {})
    ]
    assert [m["kind"] for m in roots] == ["RayService"]
    for m in out.manifests:
        assert m["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubefoundry"


def test_golden_llama_405b_two_nodes() -> None:
    plan = _multi_node()
    options = base.Options(exposure="httproute", host="llm.example.com")
    out = RUNTIME.render(plan, options)
    rendering.assert_golden("kuberay/llama-3.1-405b-h100", out.manifests)
    # serveConfigV2 is one string in the manifest; its structure is reviewed on its own too.
    rendering.assert_golden(
        "kuberay/llama-3.1-405b-h100.serve-config", [kuberay.serve_config(plan)]
    )


def test_golden_qwen_7b_good_scales_to_zero() -> None:
    plan = rendering.plan("qwen2.5-7b", tier="good", gpu="L4", cloud="gcp")
    out = RUNTIME.render(plan, base.Options(monitoring="podmonitor"))
    rendering.assert_golden("kuberay/qwen2.5-7b-good-l4", out.manifests)
    rendering.assert_golden("kuberay/qwen2.5-7b-good-l4.serve-config", [kuberay.serve_config(plan)])


# --- the same scenario as upstream's samples, in substance --------------------------------


def _sample(name: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(Path(SAMPLES / name).read_text()))


def _gpus(group: dict[str, Any]) -> str | None:
    limits: dict[str, Any] = _container(group)["resources"]["limits"]
    value = limits.get("nvidia.com/gpu")
    return None if value is None else str(value)


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def test_same_substance_as_upstream_ray_serve_llm_sample() -> None:
    (theirs,) = rendering.find(_sample("ray-service.llm-serve.yaml"), "RayService")
    plan = rendering.plan("qwen2.5-7b", gpu="L4", gpu_count=4, context_length=1024)
    ours = _ray_service(RUNTIME.render(plan, base.Options()).manifests)
    their_app = yaml.safe_load(theirs["spec"]["serveConfigV2"])["applications"][0]
    our_app = yaml.safe_load(ours["spec"]["serveConfigV2"])["applications"][0]
    assert our_app["import_path"] == their_app["import_path"]
    assert our_app["route_prefix"] == their_app["route_prefix"]
    their_llm, our_llm = their_app["args"]["llm_configs"][0], our_app["args"]["llm_configs"][0]
    assert set(their_llm) <= set(our_llm)
    assert (
        our_llm["model_loading_config"]["model_source"]
        == (their_llm["model_loading_config"]["model_source"])
    )
    for key in ("dtype", "max_model_len"):
        assert our_llm["engine_kwargs"][key] == their_llm["engine_kwargs"][key]
    their_scaling = their_llm["deployment_config"]["autoscaling_config"]
    assert set(their_scaling) <= set(our_llm["deployment_config"]["autoscaling_config"])
    for spec in (theirs["spec"]["rayClusterConfig"], ours["spec"]["rayClusterConfig"]):
        version = spec["rayVersion"]
        for group in (spec["headGroupSpec"], *spec["workerGroupSpecs"]):
            repo, tag = _container(group)["image"].rsplit(":", 1)
            assert repo == kuberay.RAY_IMAGE
            assert tag.split("-")[0] == version
        assert spec["headGroupSpec"]["rayStartParams"]["num-gpus"] == "0"
        assert _gpus(spec["headGroupSpec"]) is None
        (worker,) = spec["workerGroupSpecs"]
        assert worker["rayStartParams"]["num-gpus"] == _gpus(worker) == "4"
    # The sample is a snapshot of upstream's: we pin its Ray release or a newer one.
    our_version = ours["spec"]["rayClusterConfig"]["rayVersion"]
    their_version = theirs["spec"]["rayClusterConfig"]["rayVersion"]
    assert our_version == kuberay.RAY_VERSION
    assert _release(our_version) >= _release(their_version)
    their_ports = {
        p["containerPort"]
        for p in _container(theirs["spec"]["rayClusterConfig"]["headGroupSpec"])["ports"]
    }
    our_ports = {p["containerPort"] for p in _container(_head(ours))["ports"]}
    assert their_ports <= our_ports


def test_same_substance_as_upstream_legacy_vllm_sample() -> None:
    """The older sample typed TENSOR_PARALLELISM and the pod's GPUs separately (both 2);
    here both come from the plan, and scaling starts from zero as the sample's group does."""
    (theirs,) = _sample("ray-service.vllm.yaml")
    their_env = yaml.safe_load(theirs["spec"]["serveConfigV2"])["applications"][0]["runtime_env"]
    their_tp = int(their_env["env_vars"]["TENSOR_PARALLELISM"])
    (their_worker,) = theirs["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    plan = rendering.plan("llama-3.1-8b", tier="good", gpu="L4", gpu_count=2)
    ours = _ray_service(RUNTIME.render(plan, base.Options()).manifests)
    our_worker = _worker(ours)
    assert _gpus(our_worker) == _gpus(their_worker) == str(their_tp)
    assert _llm_config(ours)["engine_kwargs"]["tensor_parallel_size"] == their_tp
    assert our_worker["minReplicas"] == their_worker["minReplicas"] == 0
    assert (
        our_worker["template"]["spec"]["tolerations"]
        == their_worker["template"]["spec"]["tolerations"]
    )
    for spec in (theirs["spec"]["rayClusterConfig"], ours["spec"]["rayClusterConfig"]):
        for group in (spec["headGroupSpec"], *spec["workerGroupSpecs"]):
            (token,) = [e for e in _container(group)["env"] if "TOKEN" in e["name"]]
            assert "secretKeyRef" in token["valueFrom"]


def test_exposure_does_not_change_the_ray_service() -> None:
    plan = rendering.plan("qwen2.5-7b")
    a = _ray_service(RUNTIME.render(plan, base.Options()).manifests)
    b = _ray_service(RUNTIME.render(plan, base.Options(exposure="httproute")).manifests)
    assert a == b
