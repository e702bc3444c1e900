"""TGI (the seed's ML_INFERENCE_LOAD): launcher env from the plan, GPU pods, schema-valid."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.support import rendering

from kubefoundry.core.errors import InvalidInputError
from kubefoundry.planning.plans import Plan
from kubefoundry.runtimes import base, tgi

RUNTIME = tgi.TgiRuntime()
VAULT = base.Options(
    exposure="httproute",
    host="llm.example.com",
    token=base.TokenOptions(source="external-secret"),
)


def _container(manifests: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    (deployment,) = rendering.find(manifests, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def _accepted() -> list[tuple[str, str, Plan]]:
    return [
        (m, t, p)
        for m, t, p in rendering.catalog_plans()
        if base.refusal(RUNTIME, p, tgi.DEFAULT_OPTIONS) is None
    ]


@pytest.mark.parametrize(
    "options",
    [
        tgi.DEFAULT_OPTIONS,
        VAULT,
        base.Options(monitoring="podmonitor", exposure="ingress", pdb=False),
        base.Options(cache=base.CacheOptions(enabled=False), monitoring="none"),
    ],
    ids=["default", "vault", "podmonitor-ingress", "no-cache"],
)
def test_every_catalog_plan_tgi_accepts_renders_schema_valid(options: base.Options) -> None:
    accepted = _accepted()
    assert len(accepted) > 50  # the catalog, less multi-node plans
    for model, tier, plan in accepted:
        out = RUNTIME.render(plan, options)
        assert rendering.schema_problems(out.manifests) == [], (model, tier)


def test_launcher_env_comes_from_the_plan() -> None:
    plan = rendering.plan("llama-3.1-70b", tier="good")
    assert plan.quantize_at_load
    assert plan.quantization == "fp8"
    assert plan.kv_cache_dtype == "fp8"
    container = _container(RUNTIME.render(plan, tgi.DEFAULT_OPTIONS).manifests)
    env = _env(container)
    assert env["MODEL_ID"] == plan.model_id
    assert env["NUM_SHARD"] == str(plan.tensor_parallel)
    assert env["MAX_TOTAL_TOKENS"] == str(plan.max_model_len)
    assert env["MAX_INPUT_TOKENS"] == str(plan.max_model_len - 1)
    assert env["QUANTIZE"] == "fp8"
    assert env["KV_CACHE_DTYPE"] == "fp8_e4m3fn"
    assert env["CUDA_MEMORY_FRACTION"] == f"{plan.gpu_memory_utilization:g}"
    assert env["PORT"] == str(container["ports"][0]["containerPort"]) == "8080"
    assert "DTYPE" not in env  # TGI refuses --dtype together with --quantize
    assert "REVISION" not in env  # plans pin no revision: TGI takes the default branch
    assert "MAX_INPUT_LENGTH" not in env  # the seed's name; TGI 3 calls it MAX_INPUT_TOKENS
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert env["HUGGINGFACE_HUB_CACHE"].startswith(mounts["model-cache"] + "/")


def test_unquantized_plan_sets_dtype_and_prefix_caching_as_planned() -> None:
    plan = rendering.plan("qwen2.5-7b", tier="better")
    env = _env(_container(RUNTIME.render(plan, tgi.DEFAULT_OPTIONS).manifests))
    assert env["DTYPE"] == {"bf16": "bfloat16", "fp16": "float16"}[plan.dtype]
    assert "QUANTIZE" not in env
    assert ("PREFIX_CACHING" in env) is (not plan.prefix_caching)


def test_token_is_a_secret_reference_named_hf_token() -> None:
    plan = rendering.plan("llama-3.1-8b", hf_token_secret="hf-secret")
    env = _env(_container(RUNTIME.render(plan, tgi.DEFAULT_OPTIONS).manifests))
    assert env["HF_TOKEN"] == {"secretKeyRef": {"name": "hf-secret", "key": "token"}}
    assert "HUGGING_FACE_HUB_TOKEN" not in env


def test_a_prequantized_checkpoint_gets_no_quantize() -> None:
    plan = rendering.plan("Qwen/Qwen2.5-7B-Instruct-AWQ")
    assert plan.quantization == "awq"
    assert not plan.quantize_at_load
    env = _env(_container(RUNTIME.render(plan, tgi.DEFAULT_OPTIONS).manifests))
    assert "QUANTIZE" not in env
    assert "DTYPE" not in env


def test_load_time_quantization_other_than_fp8_is_refused_with_a_fix() -> None:
    plan = rendering.plan("llama-3.1-8b", gpu="L4", quantization="awq")
    with pytest.raises(InvalidInputError, match="only to fp8") as err:
        RUNTIME.render(plan, tgi.DEFAULT_OPTIONS)
    assert err.value.hint


def test_pods_run_on_the_planned_nvidia_gpus() -> None:
    plan = rendering.plan("llama-3.1-8b", tier="better", gpu="L4", cloud="gcp")
    out = RUNTIME.render(plan, tgi.DEFAULT_OPTIONS)
    (deployment,) = rendering.find(out.manifests, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["runtimeClassName"] == "nvidia"
    # The plan's selector (the GKE pool's accelerator label), no GPU Operator label: GKE's
    # nodes carry none, so nvidia.com/gpu.present would keep TGI off every GKE GPU.
    assert pod["nodeSelector"] == plan.node_selector
    assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert pod["tolerations"] == [dict(t) for t in plan.tolerations]
    (container,) = pod["containers"]
    assert container["name"] == "inference"
    assert container["image"] == f"{tgi.IMAGE}:{tgi.VERSION}"
    assert container["resources"]["limits"][plan.gpu_resource] == str(plan.gpu_count)
    assert rendering.replicas(out.manifests, deployment) == plan.replicas
    env = _env(container)
    assert int(env["GRACEFUL_TERMINATION_TIMEOUT"]) < pod["terminationGracePeriodSeconds"]


def test_startup_probe_covers_a_cold_start_instead_of_a_fixed_delay() -> None:
    plan = rendering.plan("llama-3.3-70b", tier="better")
    container = _container(RUNTIME.render(plan, tgi.DEFAULT_OPTIONS).manifests)
    startup = container["startupProbe"]
    assert startup["httpGet"] == {"path": "/health", "port": "http"}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= plan.probes.cold_start_s
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert "initialDelaySeconds" not in container[kind]


def test_service_and_route_reach_port_8080() -> None:
    plan = rendering.plan("qwen2.5-7b")
    out = RUNTIME.render(plan, VAULT)
    (service,) = rendering.find(out.manifests, "Service")
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}
    ]
    (route,) = rendering.find(out.manifests, "HTTPRoute")
    assert route["spec"]["hostnames"] == ["llm.example.com"]
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": plan.name, "port": 80}]


def test_default_options_route_through_a_gateway() -> None:
    out = RUNTIME.render(rendering.plan("qwen2.5-7b"), tgi.DEFAULT_OPTIONS)
    assert len(rendering.find(out.manifests, "HTTPRoute")) == 1


def test_external_secret_is_v1_for_gated_models_only() -> None:
    gated = RUNTIME.render(rendering.plan("llama-3.1-8b"), VAULT)
    (secret,) = rendering.find(gated.manifests, "ExternalSecret")
    assert secret["apiVersion"] == "external-secrets.io/v1"
    assert secret["spec"]["data"][0]["remoteRef"]["key"] == VAULT.token.remote_key
    open_model = RUNTIME.render(rendering.plan("qwen2.5-7b"), VAULT)
    assert rendering.find(open_model.manifests, "ExternalSecret") == []


def test_autoscaling_uses_tgis_queue_metric() -> None:
    plan = rendering.plan("qwen2.5-7b", tier="better", namespace="llm")
    out = RUNTIME.render(plan, tgi.DEFAULT_OPTIONS)
    (scaled,) = rendering.find(out.manifests, "ScaledObject")
    trigger = scaled["spec"]["triggers"][0]["metadata"]
    assert trigger["query"] == f'sum(tgi_queue_size{{service="{plan.name}",namespace="llm"}})'
    assert trigger["threshold"] == f"{plan.autoscaling.target:g}"
    assert scaled["spec"]["minReplicaCount"] == plan.autoscaling.min_replicas
    assert scaled["spec"]["maxReplicaCount"] == plan.autoscaling.max_replicas
    assert scaled["spec"]["scaleTargetRef"]["name"] == plan.name
    assert [d.topic for d in out.decisions] == ["autoscaling"]
    assert "tgi_queue_size" in out.decisions[0].choice


def test_every_object_is_labelled_and_the_root_names_tgi() -> None:
    out = RUNTIME.render(rendering.plan("qwen2.5-7b"), VAULT)
    roots = [
        m for m in out.manifests if "kubefoundry.io/root" in m["metadata"].get("annotations", {})
    ]
    assert [m["kind"] for m in roots] == ["Deployment"]
    summary = json.loads(roots[0]["metadata"]["annotations"]["kubefoundry.io/plan"])
    assert summary["engine"] == f"tgi {tgi.VERSION}"
    for m in out.manifests:
        assert m["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubefoundry"
    assert "vLLM's estimates" in out.warnings[0]


@pytest.mark.parametrize(
    ("pins", "options", "feature"),
    [
        ({"model": "llama-3.1-405b", "gpu": "H100"}, tgi.DEFAULT_OPTIONS, "multi-node"),
        ({"model": "qwen2.5-7b"}, base.Options(disaggregated=True), "disaggregation"),
        ({"model": "qwen2.5-7b"}, base.Options(platform="gaudi"), "non-NVIDIA"),
    ],
)
def test_plans_tgi_cannot_serve_are_refused_with_a_reason(
    pins: dict[str, Any], options: base.Options, feature: str
) -> None:
    plan = rendering.plan(**pins)
    reason = base.refusal(RUNTIME, plan, options)
    assert feature in (reason or "")
    with pytest.raises(InvalidInputError, match="TGI cannot serve"):
        RUNTIME.render(plan, options)


def test_pipeline_parallelism_and_scale_to_zero_are_declared_limits() -> None:
    assert "tensor parallelism only" in RUNTIME.limits[base.Feature.PIPELINE_PARALLEL]
    assert "tgi_queue_size" in RUNTIME.limits[base.Feature.SCALE_TO_ZERO]
    assert RUNTIME.requires == ()


def test_golden_llama_8b_better_l4() -> None:
    plan = rendering.plan("llama-3.1-8b", tier="better", gpu="L4", cloud="gcp")
    options = base.Options(exposure="httproute", host="llm.example.com")
    rendering.assert_golden("tgi/llama-3.1-8b-better-l4", RUNTIME.render(plan, options).manifests)


def test_golden_qwen3_14b_good_fp8_vault() -> None:
    plan = rendering.plan("qwen3-14b", tier="good", namespace="llm", hf_token_secret="hf-token")
    rendering.assert_golden("tgi/qwen3-14b-good-fp8-vault", RUNTIME.render(plan, VAULT).manifests)
