"""KServe: InferenceService + ServingRuntime per platform profile, LLMInferenceService, all
schema-valid against the v0.20 CRDs and equivalent in substance to KServe's own samples."""

from __future__ import annotations

import dataclasses
import json
import shlex
from typing import Any

import pytest
import yaml
from tests.conftest import SHARED
from tests.support import rendering

from kubefoundry.core.errors import InvalidInputError
from kubefoundry.planning.plans import Plan
from kubefoundry.runtimes import base, choosing, kserve, kserve_llm, kserve_platforms, registry
from kubefoundry.runtimes.common import scaling

RUNTIME = kserve.KServeRuntime()
SAMPLES = SHARED / "upstream-samples" / "kserve"
MODES = {
    "isvc": base.Options(),
    "llmisvc": base.Options(llm_inference_service=True),
    "llmisvc-pd": base.Options(disaggregated=True),
}


def _flag(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args else None


def _sample(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((SAMPLES / name).read_text())
    return doc


def _one(manifests: tuple[dict[str, Any], ...], kind: str) -> dict[str, Any]:
    (found,) = rendering.find(manifests, kind)
    return found


def _predictor(out: base.Rendered) -> dict[str, Any]:
    predictor: dict[str, Any] = _one(out.manifests, "InferenceService")["spec"]["predictor"]
    return predictor


def _qwen() -> Plan:
    return rendering.plan("qwen2.5-7b", tier="better", gpu="L4", cloud="gcp")


# ---- every catalog plan ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_catalog_plan_renders_schema_valid_or_is_refused_with_a_reason(mode: str) -> None:
    options = MODES[mode]
    rendered = refused = 0
    for model, tier, plan in rendering.catalog_plans():
        reason = base.refusal(RUNTIME, plan, options)
        if reason:
            assert reason.startswith("kserve: no "), (model, tier, reason)
            assert reason.endswith(")"), reason  # the feature, then why
            refused += 1
            continue
        out = RUNTIME.render(plan, options)
        assert rendering.schema_problems(out.manifests) == [], (model, tier)
        rendered += 1
    assert rendered > 50
    assert refused > 0  # scale-to-zero tiers and multi-node models


def test_multi_node_and_scale_to_zero_are_refused_with_what_to_use() -> None:
    big = rendering.plan("llama-3.1-405b", gpu="H100")
    assert "lws" in (base.refusal(RUNTIME, big, base.Options()) or "")
    idle = rendering.plan("qwen2.5-7b", tier="good")
    assert base.refusal(RUNTIME, idle, base.Options()) is None
    warm = choosing.adapt(idle, RUNTIME)
    assert warm.autoscaling.min_replicas == 1
    assert "scale to zero" in warm.decisions[-1].topic


# ---- InferenceService -------------------------------------------------------------------------


def test_engine_args_resources_and_placement_come_from_the_plan() -> None:
    plan = rendering.plan("llama-3.1-70b", tier="better", gpu="H100", gpu_count=4)
    out = RUNTIME.render(plan, base.Options())
    predictor = _predictor(out)
    model = predictor["model"]
    args = model["args"]
    assert args[0] == plan.model_id
    assert _flag(args, "--tensor-parallel-size") == str(plan.tensor_parallel)
    assert _flag(args, "--max-model-len") == str(plan.max_model_len)
    assert _flag(args, "--port") == str(kserve_platforms.PORT)
    assert model["resources"]["limits"]["nvidia.com/gpu"] == str(plan.gpu_count)
    assert predictor["nodeSelector"] == plan.node_selector
    startup = model["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= plan.probes.cold_start_s
    assert "storageUri" not in model  # vLLM fills the shared cache itself


def test_the_predictor_uses_its_own_runtime_and_format() -> None:
    out = RUNTIME.render(_qwen(), base.Options())
    runtime = _one(out.manifests, "ServingRuntime")
    model = _predictor(out)["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    formats = runtime["spec"]["supportedModelFormats"]
    assert [f["name"] for f in formats] == [model["modelFormat"]["name"]]
    assert formats[0]["autoSelect"] is False  # never picked by another InferenceService
    (container,) = runtime["spec"]["containers"]
    assert container["name"] == "kserve-container"
    assert container["image"] == f"vllm/vllm-openai:v{_qwen().engine_version}"


def test_standard_mode_and_keda_autoscaling_carry_the_plan_intent() -> None:
    plan = _qwen()
    assert scaling.wants_scaler(plan)
    out = RUNTIME.render(plan, base.Options())
    isvc = _one(out.manifests, "InferenceService")
    annotations = isvc["metadata"]["annotations"]
    assert annotations[kserve.DEPLOYMENT_MODE] == "Standard"
    assert annotations[kserve.AUTOSCALER_CLASS] == "keda"
    predictor = isvc["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (
        plan.autoscaling.min_replicas,
        plan.autoscaling.max_replicas,
    )
    (metric,) = predictor["autoScaling"]["metrics"]
    assert metric["external"]["metric"]["query"] == scaling.query(plan)
    assert metric["external"]["target"]["value"] == f"{plan.autoscaling.target:g}"
    window = predictor["autoScaling"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"]
    assert window == plan.autoscaling.cooldown_s
    assert not rendering.find(out.manifests, "ScaledObject")  # KServe writes it, not us


def test_fixed_replicas_turn_kserves_default_cpu_hpa_off() -> None:
    plan = rendering.plan("qwen2.5-7b", tier="better", replicas=6)
    assert not scaling.wants_scaler(plan)
    isvc = _one(RUNTIME.render(plan, base.Options()).manifests, "InferenceService")
    assert isvc["metadata"]["annotations"][kserve.AUTOSCALER_CLASS] == "none"
    predictor = isvc["spec"]["predictor"]
    assert predictor["minReplicas"] == predictor["maxReplicas"] == 6
    assert "autoScaling" not in predictor


def test_token_is_a_secret_reference_and_the_cache_is_mounted() -> None:
    plan = rendering.plan("llama-3.1-8b", tier="better", hf_token_secret="hf")
    out = RUNTIME.render(plan, base.Options())
    model = _predictor(out)["model"]
    (token,) = [e for e in model["env"] if e["name"] == "HF_TOKEN"]
    assert token["valueFrom"]["secretKeyRef"] == {"name": "hf", "key": "token"}
    assert rendering.CANARY not in set(map(str, rendering.walk(list(out.manifests))))
    pvc = _one(out.manifests, "PersistentVolumeClaim")
    (volume,) = _predictor(out)["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]


def test_no_exposure_keeps_kserve_from_writing_an_ingress_of_its_own() -> None:
    """Seen with KServe v0.20's manager in the sandbox: an InferenceService without the
    cluster-local label got an Ingress (class istio, host <name>-<namespace>.example.com)."""
    out = RUNTIME.render(_qwen(), base.Options(exposure="none"))
    isvc = _one(out.manifests, "InferenceService")
    assert isvc["metadata"]["labels"][kserve.VISIBILITY] == "cluster-local"
    assert not [m for m in out.manifests if m["kind"] in ("Ingress", "HTTPRoute", "ApisixRoute")]


@pytest.mark.parametrize("exposure", ["httproute", "ingress", "apisix"])
def test_exposure_targets_the_predictor_service_and_turns_kserves_own_off(
    exposure: base.Exposure,
) -> None:
    out = RUNTIME.render(_qwen(), base.Options(exposure=exposure, host="llm.example.com"))
    isvc = _one(out.manifests, "InferenceService")
    assert isvc["metadata"]["labels"][kserve.VISIBILITY] == "cluster-local"
    text = json.dumps(
        [
            m
            for m in out.manifests
            if m["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "route"
        ]
    )
    assert kserve.predictor_service(_qwen()) in text
    assert rendering.schema_problems(out.manifests) == []


def test_monitor_and_budget_select_what_kserve_labels_from_the_isvc() -> None:
    out = RUNTIME.render(_qwen(), base.Options())
    isvc_labels = _one(out.manifests, "InferenceService")["metadata"]["labels"]
    for kind in ("ServiceMonitor", "PodDisruptionBudget"):
        selector = _one(out.manifests, kind)["spec"]["selector"]["matchLabels"]
        assert selector.items() <= isvc_labels.items(), kind
    container = _one(out.manifests, "ServingRuntime")["spec"]["containers"][0]
    endpoint = _one(out.manifests, "ServiceMonitor")["spec"]["endpoints"][0]
    assert endpoint["port"] == container["ports"][0]["name"]  # KServe names the Service port so


def test_exactly_one_root_object() -> None:
    for options in MODES.values():
        out = RUNTIME.render(_qwen(), options)
        roots = [
            m
            for m in out.manifests
            if "kubefoundry.io/root" in m["metadata"].get("annotations", {})
        ]
        assert len(roots) == 1


# ---- platform profiles ------------------------------------------------------------------------

SEED = {  # seed 003: CPU cores and memory (GiB) request–limit, selector, capabilities
    "xeon": ((16, 32), (64, 128), "feature.node.kubernetes.io/cpu-cpuid.AVX512VNNI", ()),
    "gaudi": (
        (16, 32),
        (128, 256),
        "node.kubernetes.io/instance-type",
        ("SYS_PTRACE", "IPC_LOCK", "SYS_NICE"),
    ),
    "gaudi3": (
        (24, 48),
        (256, 512),
        "node.kubernetes.io/instance-type",
        ("SYS_PTRACE", "IPC_LOCK", "SYS_NICE"),
    ),
}


@pytest.mark.parametrize("platform", sorted(SEED))
def test_intel_profiles_give_the_seeds_resources_selectors_and_capabilities(
    platform: base.Platform,
) -> None:
    (cpu, memory, selector_key, caps) = SEED[platform]
    plan = _qwen()
    out = RUNTIME.render(plan, base.Options(platform=platform))
    assert rendering.schema_problems(out.manifests) == []
    predictor = _predictor(out)
    resources = predictor["model"]["resources"]
    assert (resources["requests"]["cpu"], resources["limits"]["cpu"]) == tuple(map(str, cpu))
    assert (resources["requests"]["memory"], resources["limits"]["memory"]) == tuple(
        f"{m}Gi" for m in memory
    )
    assert selector_key in predictor["nodeSelector"]
    assert "nvidia.com/gpu" not in resources["limits"]
    container = _one(out.manifests, "ServingRuntime")["spec"]["containers"][0]
    assert tuple(container["securityContext"]["capabilities"].get("add", ())) == caps
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert any(plan.gpu in w for w in out.warnings)  # the memory plan was for the plan's GPU


@pytest.mark.parametrize("platform", ["gaudi", "gaudi3"])
def test_gaudi_runs_bf16_eager_on_as_many_cards_as_the_plan_has_gpus(
    platform: base.Platform,
) -> None:
    plan = _qwen()
    out = RUNTIME.render(plan, base.Options(platform=platform))
    predictor = _predictor(out)
    args = predictor["model"]["args"]
    assert _flag(args, "--dtype") == "bfloat16"
    assert "--enforce-eager" in args
    assert _flag(args, "--tensor-parallel-size") == str(plan.tensor_parallel)
    assert predictor["model"]["resources"]["limits"]["habana.ai/gaudi"] == str(plan.gpu_count)
    assert predictor["tolerations"][0]["key"] == "habana.ai/gaudi"


def test_xeon_serves_on_cpu_with_kv_space_from_the_memory_limit() -> None:
    plan = _qwen()
    model = _predictor(RUNTIME.render(plan, base.Options(platform="xeon")))["model"]
    args = model["args"]
    assert _flag(args, "--tensor-parallel-size") == "1"
    assert "--gpu-memory-utilization" not in args
    assert _flag(args, "--max-model-len") == str(plan.max_model_len)
    env = {e["name"]: e.get("value") for e in model["env"]}
    limit = int(model["resources"]["limits"]["memory"].removesuffix("Gi"))
    space = int(env["VLLM_CPU_KVCACHE_SPACE"] or 0)
    assert 4 <= space < limit - plan.model_gib


def test_xeon_memory_grows_to_hold_a_model_larger_than_the_seeds_limit() -> None:
    plan = rendering.plan("llama-3.1-70b", tier="better", gpu="H100")
    model = _predictor(RUNTIME.render(plan, base.Options(platform="xeon")))["model"]
    assert int(model["resources"]["requests"]["memory"].removesuffix("Gi")) > plan.model_gib


@pytest.mark.parametrize(
    ("gpu", "resource", "profile"),
    [
        ("Gaudi3", "habana.ai/gaudi", "gaudi3"),
        ("Gaudi2", "habana.ai/gaudi", "gaudi"),
        ("H100-80GB-SXM", "nvidia.com/gpu", "nvidia"),
    ],
)
def test_the_profile_follows_the_plans_gpu_when_not_given(
    gpu: str, resource: str, profile: str
) -> None:
    plan = dataclasses.replace(_qwen(), gpu=gpu, gpu_resource=resource)
    chosen, why = kserve_platforms.profile_for(plan, base.Options())
    assert chosen.name == profile
    assert gpu in why


def test_a_gpu_without_a_profile_is_refused_with_a_fix() -> None:
    plan = dataclasses.replace(_qwen(), gpu="MI300X", gpu_resource="amd.com/gpu")
    with pytest.raises(InvalidInputError, match="no platform profile") as err:
        RUNTIME.render(plan, base.Options())
    assert "`serving.platform`" in (err.value.hint or "")


@pytest.mark.parametrize("platform", sorted(kserve_platforms.PROFILES))
def test_a_platform_runtime_is_a_valid_cluster_serving_runtime(platform: base.Platform) -> None:
    runtime = kserve_platforms.cluster_serving_runtime(platform, vllm_version="0.19.0")
    assert rendering.schema_problems([runtime]) == []
    assert "namespace" not in runtime["metadata"]
    assert "kubefoundry.io/deployment" not in runtime["metadata"]["labels"]
    (container,) = runtime["spec"]["containers"]
    assert container["image"] == kserve_platforms.image(
        dataclasses.replace(_qwen(), engine_version="0.19.0"),
        base.Options(),
        kserve_platforms.PROFILES[platform],
    )


# ---- LLMInferenceService ----------------------------------------------------------------------


def _llm(out: base.Rendered) -> dict[str, Any]:
    return _one(out.manifests, "LLMInferenceService")


def test_llm_inference_service_takes_model_parallelism_and_flags_from_the_plan() -> None:
    plan = rendering.plan("llama-3.1-70b", tier="better", gpu="H100", gpu_count=4)
    spec = _llm(RUNTIME.render(plan, base.Options(llm_inference_service=True)))["spec"]
    assert spec["model"] == {"uri": f"hf://{plan.model_id}", "name": plan.model_id}
    assert spec["replicas"] == plan.replicas
    assert spec["parallelism"]["tensor"] == plan.tensor_parallel
    assert set(spec["router"]) == {"scheduler", "route", "gateway"}
    (main,) = spec["template"]["containers"]
    assert main["name"] == "main"
    env = {e["name"]: e for e in main["env"]}
    extra = shlex.split(env["VLLM_ADDITIONAL_ARGS"]["value"])
    assert _flag(extra, "--max-model-len") == str(plan.max_model_len)
    for flag in kserve_llm.PRESET_FLAGS:  # the preset sets them; twice would be ambiguous
        assert flag not in extra
    assert main["resources"]["limits"]["nvidia.com/gpu"] == str(plan.gpu_count)
    assert main["startupProbe"]["failureThreshold"] == plan.probes.startup_failure_threshold


@pytest.mark.parametrize(("workload", "more"), [("chat", "decode"), ("rag", "prefill")])
def test_disaggregation_splits_the_plans_replicas_into_prefill_and_decode(
    workload: base.Workload, more: str
) -> None:
    plan = rendering.plan("qwen2.5-7b", tier="best", replicas=3)  # odd: one pool gets more
    out = RUNTIME.render(plan, base.Options(disaggregated=True, workload=workload))
    spec = _llm(out)["spec"]
    decode, prefill = spec["replicas"], spec["prefill"]["replicas"]
    assert decode + prefill == max(plan.replicas, 2)
    assert (decode > prefill) == (more == "decode")
    for template in (spec["template"], spec["prefill"]["template"]):
        env = {e["name"]: e for e in template["containers"][0]["env"]}
        extra = shlex.split(env["VLLM_ADDITIONAL_ARGS"]["value"])
        assert json.loads(_flag(extra, "--kv-transfer-config") or "{}") == kserve_llm.KV_TRANSFER
        assert (
            env["VLLM_NIXL_SIDE_CHANNEL_HOST"]["valueFrom"]["fieldRef"]["fieldPath"]
            == "status.podIP"
        )


def test_gated_models_get_a_service_account_for_kserves_storage_initializer() -> None:
    plan = rendering.plan("llama-3.1-8b", tier="better", hf_token_secret="hf")
    out = RUNTIME.render(plan, base.Options(llm_inference_service=True))
    account = _one(out.manifests, "ServiceAccount")
    assert account["secrets"] == [{"name": "hf"}]
    assert _llm(out)["spec"]["template"]["serviceAccountName"] == account["metadata"]["name"]
    assert out.token is not None
    assert out.token.key == "HF_TOKEN"
    options = base.Options(llm_inference_service=True)
    _, chosen = choosing.choose(
        dataclasses.replace(plan, runtime="kserve"), options, registry=registry.default()
    )
    assert [w for w in chosen.warnings if 'key "HF_TOKEN" of Secret hf' in w]


def test_an_external_secret_writes_the_key_kserves_storage_initializer_reads() -> None:
    plan = rendering.plan("llama-3.1-8b", tier="better")
    token = base.TokenOptions(source="external-secret")
    out = RUNTIME.render(plan, base.Options(llm_inference_service=True, token=token))
    secret = _one(out.manifests, "ExternalSecret")
    assert secret["spec"]["data"][0]["secretKey"] == "HF_TOKEN"
    assert _one(out.manifests, "ServiceAccount")["secrets"] == [
        {"name": secret["spec"]["target"]["name"]}
    ]


def test_llm_inference_service_on_intel_is_refused_with_a_fix() -> None:
    with pytest.raises(InvalidInputError, match="CUDA") as err:
        RUNTIME.render(_qwen(), base.Options(llm_inference_service=True, platform="gaudi3"))
    assert err.value.hint


def test_llm_monitor_selects_the_workload_pods_kserve_creates() -> None:
    out = RUNTIME.render(_qwen(), base.Options(llm_inference_service=True))
    monitor = _one(out.manifests, "PodMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector == {**kserve_llm.WORKLOAD_SELECTOR, "app.kubernetes.io/name": _qwen().name}
    assert monitor["spec"]["podMetricsEndpoints"][0]["portNumber"] == kserve_llm.WORKLOAD_PORT


# ---- golden files -----------------------------------------------------------------------------

GOLDEN = {
    "llama-3.1-8b-better-l4": (
        "llama-3.1-8b",
        base.Options(exposure="httproute", host="llm.example.com"),
    ),
    "qwen2.5-7b-gaudi3-apisix": ("qwen2.5-7b", base.Options(platform="gaudi3", exposure="apisix")),
    "qwen2.5-7b-xeon-ingress": (
        "qwen2.5-7b",
        base.Options(platform="xeon", exposure="ingress", monitoring="podmonitor"),
    ),
    "qwen2.5-7b-llmisvc": (
        "qwen2.5-7b",
        base.Options(llm_inference_service=True, exposure="httproute"),
    ),
    "qwen2.5-7b-llmisvc-pd": ("qwen2.5-7b", base.Options(disaggregated=True, workload="rag")),
}


@pytest.mark.parametrize("scenario", sorted(GOLDEN))
def test_golden(scenario: str) -> None:
    model, options = GOLDEN[scenario]
    plan = rendering.plan(model, tier="better", gpu="L4", cloud="gcp")
    rendering.assert_golden(f"kserve/{scenario}", RUNTIME.render(plan, options).manifests)


def test_golden_platform_runtime() -> None:
    runtime = kserve_platforms.cluster_serving_runtime("gaudi3", vllm_version="0.19.0")
    rendering.assert_golden("kserve/cluster-serving-runtime-gaudi3", [runtime])


# ---- equivalence with KServe's own samples ----------------------------------------------------


def test_platform_runtime_matches_kserves_vllm_cluster_serving_runtime() -> None:
    sample = _sample("kserve-vllmserver.yaml")
    ours = kserve_platforms.cluster_serving_runtime("nvidia", vllm_version="0.19.0")
    assert (ours["apiVersion"], ours["kind"]) == (sample["apiVersion"], sample["kind"])
    assert ours["spec"]["annotations"] == sample["spec"]["annotations"]
    theirs_c, ours_c = sample["spec"]["containers"][0], ours["spec"]["containers"][0]
    assert ours_c["name"] == theirs_c["name"]
    assert f"--port={kserve_platforms.PORT}" in theirs_c["args"]
    assert ours_c["ports"][0]["containerPort"] == kserve_platforms.PORT
    formats = {f["name"].lower() for f in sample["spec"]["supportedModelFormats"]}
    assert {f["name"].lower() for f in ours["spec"]["supportedModelFormats"]} == formats
    assert (
        ours_c["securityContext"]["capabilities"]["drop"]
        == theirs_c["securityContext"]["capabilities"]["drop"]
    )
    shm = {m["mountPath"] for m in ours_c["volumeMounts"]}
    assert shm == {m["mountPath"] for m in theirs_c["volumeMounts"]} == {"/dev/shm"}
    assert (
        ours["spec"]["volumes"][0]["emptyDir"]["medium"]
        == sample["spec"]["volumes"][0]["emptyDir"]["medium"]
    )


@pytest.mark.parametrize("sample_file", ["hf_isvc.yaml", "llama3-vllm.yaml"])
def test_inference_service_matches_kserves_samples(sample_file: str) -> None:
    sample = _sample(sample_file)
    plan = rendering.plan("llama-3.1-8b", tier="better", gpu="L4", cloud="gcp")
    ours = _one(RUNTIME.render(plan, base.Options()).manifests, "InferenceService")
    assert (ours["apiVersion"], ours["kind"]) == (sample["apiVersion"], sample["kind"])
    theirs_m, ours_m = sample["spec"]["predictor"]["model"], ours["spec"]["predictor"]["model"]
    assert set(theirs_m) - {"storageUri"} <= set(ours_m)  # storage: see the cache decision
    assert set(theirs_m["modelFormat"]) == set(ours_m["modelFormat"])
    for r in (theirs_m["resources"], ours_m["resources"]):
        assert r["requests"]["nvidia.com/gpu"] == r["limits"]["nvidia.com/gpu"]
        assert {"cpu", "memory"} <= set(r["requests"])


@pytest.mark.parametrize(
    ("sample_file", "options"),
    [
        ("llm-inference-service-qwen2-7b-gpu.yaml", base.Options(llm_inference_service=True)),
        ("llm-inference-service-pd-qwen2-7b-gpu.yaml", base.Options(disaggregated=True)),
    ],
)
def test_llm_inference_service_matches_kserves_samples(
    sample_file: str, options: base.Options
) -> None:
    sample = _sample(sample_file)
    plan = rendering.plan("qwen2.5-7b", tier="better", gpu="L4", cloud="gcp")
    ours = _llm(RUNTIME.render(plan, options))
    assert ours["kind"] == sample["kind"]
    assert ours["apiVersion"].split("/")[0] == sample["apiVersion"].split("/")[0]
    theirs_s, ours_s = sample["spec"], ours["spec"]
    assert ours_s["model"] == theirs_s["model"]  # same Hugging Face model, same uri scheme
    assert set(ours_s["router"]) == set(theirs_s["router"])
    assert set(theirs_s) - {"template", "prefill"} <= set(ours_s)
    pairs = [(theirs_s["template"], ours_s["template"])]
    if "prefill" in theirs_s:
        assert ours_s["prefill"]["replicas"] >= 1
        pairs.append((theirs_s["prefill"]["template"], ours_s["prefill"]["template"]))
    for theirs_t, ours_t in pairs:
        t, o = theirs_t["containers"][0], ours_t["containers"][0]
        assert o["name"] == t["name"] == "main"
        assert set(t["resources"]["requests"]) - {"rdma/roce_gdr"} <= set(
            o["resources"]["requests"]
        )
        theirs_env = {e["name"]: e for e in t.get("env", [])}
        ours_env = {e["name"]: e for e in o["env"]}
        assert set(ours_env) <= set(theirs_env) | {"VLLM_ADDITIONAL_ARGS"}
        if "VLLM_ADDITIONAL_ARGS" in theirs_env:  # the P/D sample: NIXL, side channel on the pod IP
            assert "NixlConnector" in ours_env["VLLM_ADDITIONAL_ARGS"]["value"]
            side = "VLLM_NIXL_SIDE_CHANNEL_HOST"
            assert ours_env[side]["valueFrom"] == theirs_env[side]["valueFrom"]
