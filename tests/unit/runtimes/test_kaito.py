"""KAITO: instance type and node labels from the GPU choice and the cloud, count as nodes, the
vLLM settings under the exact ConfigMap key, schema-valid against the real CRDs and the same
in substance as upstream's examples."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import yaml
from tests.conftest import SHARED
from tests.support import rendering

from kubefoundry.catalog import instances
from kubefoundry.core.errors import DoesNotFitError, InvalidInputError
from kubefoundry.planning import tiers
from kubefoundry.planning.plans import Plan
from kubefoundry.runtimes import base, choosing, kaito, kaito_nodes, registry
from kubefoundry.runtimes.common import pods

RUNTIME = kaito.KaitoRuntime()
SAMPLES = SHARED / "upstream-samples" / "kaito"
INFERENCESETS = SHARED / "crds" / "kaito" / "inferencesets.kaito.sh.yaml"


def _single(plan: Plan) -> Plan:
    """The same plan with one replica and no autoscaling: one Workspace."""
    return dataclasses.replace(
        plan,
        replicas=1,
        autoscaling=dataclasses.replace(plan.autoscaling, min_replicas=1, max_replicas=1),
    )


def _root(out: base.Rendered) -> dict[str, Any]:
    (root,) = [
        m for m in out.manifests if "kubefoundry.io/root" in m["metadata"].get("annotations", {})
    ]
    return root


def _settings(out: base.Rendered) -> dict[str, Any]:
    (config,) = rendering.find(out.manifests, "ConfigMap")
    data: dict[str, Any] = yaml.safe_load(config["data"][kaito.CONFIG_KEY])
    return data


def _decision(out: base.Rendered, topic: str) -> Any:
    (found,) = [d for d in out.decisions if d.topic == topic]
    return found


def _azure_plans() -> list[tuple[str, str, Plan]]:
    out = []
    for entry in rendering.catalog().all():
        for tier in tiers.all_tiers():
            try:
                out.append(
                    (entry.id, tier.name, rendering.plan(entry.id, tier=tier.name, cloud="azure"))
                )
            except DoesNotFitError:
                continue
    return out


def _render(
    plan: Plan, options: base.Options
) -> tuple[base.Rendered | None, InvalidInputError | None]:
    try:
        return RUNTIME.render(plan, options), None
    except InvalidInputError as err:
        return None, err


@pytest.mark.parametrize("where", ["catalog", "azure"])
def test_every_plan_renders_valid_or_is_refused_with_a_reason(where: str) -> None:
    plans = rendering.catalog_plans() if where == "catalog" else _azure_plans()
    counts = {"rendered": 0, "refused": 0}
    for model, tier, plan in plans:
        reason = base.refusal(RUNTIME, plan, base.Options(exposure="httproute"))
        if reason:
            assert reason.startswith("kaito: "), (model, tier, reason)
            assert len(reason) > len("kaito: ") + 10, (model, tier, reason)
            counts["refused"] += 1
            continue
        out, refusal = _render(choosing.adapt(plan, RUNTIME), base.Options(exposure="httproute"))
        if refusal:  # no KAITO SKU for this GPU: the error says what to do instead
            assert refusal.hint, (model, tier)
            assert "`gpu`" in refusal.hint
            counts["refused"] += 1
            continue
        assert out
        assert rendering.schema_problems(out.manifests) == [], (model, tier)
        counts["rendered"] += 1
    assert counts["rendered"] >= len(plans) // 3, counts
    if where == "azure":  # GPUs KAITO cannot provision there (T4, GB200, ...) are refused
        assert counts["refused"], counts


def test_configmap_key_is_exactly_inference_config_yaml_with_the_plan_settings() -> None:
    plan = rendering.plan("llama-3.1-70b", cloud="azure", gpu="A100-80GB-PCIe", gpu_count=4)
    out = RUNTIME.render(plan, base.Options())
    (config,) = rendering.find(out.manifests, "ConfigMap")
    assert list(config["data"]) == ["inference_config.yaml"]
    vllm = _settings(out)["vllm"]
    assert vllm["max-model-len"] == plan.max_model_len
    assert vllm["gpu-memory-utilization"] == plan.gpu_memory_utilization
    assert vllm["tensor-parallel-size"] == plan.tensor_parallel
    assert vllm["data-parallel-size"] == 1
    assert vllm["dtype"] == "bfloat16"
    assert all(isinstance(v, int | float | str) and v not in ("", None) for v in vllm.values())
    assert "served-model-name" not in vllm
    assert "port" not in vllm
    assert _root(out)["spec"]["template"]["inference"]["config"] == config["metadata"]["name"]


def test_fp8_on_load_reaches_the_config() -> None:
    plan = rendering.plan("llama-3.1-8b", cloud="azure", gpu="H100", quantization="fp8")
    vllm = _settings(RUNTIME.render(plan, base.Options()))["vllm"]
    assert vllm["quantization"] == "fp8"


def test_count_is_nodes_per_replica_not_replicas() -> None:
    plan = _single(rendering.plan("llama-3.1-405b", gpu="H100", cloud="azure"))
    assert plan.nodes_per_replica == 2
    out = RUNTIME.render(plan, base.Options())
    ws = _root(out)
    assert ws["kind"] == "Workspace"
    assert ws["resource"]["count"] == plan.nodes_per_replica
    decision = _decision(out, "node count")
    assert "NODES" in decision.reason
    assert "not replicas" in decision.reason
    assert rendering.schema_problems(out.manifests) == []


def test_several_replicas_are_an_inference_set_with_a_node_limit() -> None:
    plan = rendering.plan("llama-3.1-405b", gpu="H100", cloud="azure")
    assert plan.replicas > 1
    out = RUNTIME.render(plan, base.Options())
    root = _root(out)
    assert (root["apiVersion"], root["kind"]) == ("kaito.sh/v1beta1", "InferenceSet")
    assert root["spec"]["replicas"] == plan.replicas
    limit = plan.autoscaling.max_replicas * plan.nodes_per_replica
    assert root["spec"]["nodeCountLimit"] == limit
    assert "count" not in root["spec"]["template"].get("resource", {})
    assert str(limit) in _decision(out, "node count").choice


def test_instance_type_is_a_kaito_azure_sku_with_the_planned_gpu() -> None:
    catalog = instances.load()
    for model, gpu, count in [
        ("llama-3.1-8b", "A100-80GB-PCIe", 1),
        ("llama-3.1-70b", "A100-80GB-PCIe", 4),
        ("llama-3.1-70b", "H100", 8),
        ("llama-3.1-70b", "H200", 8),
    ]:
        plan = rendering.plan(model, cloud="azure", gpu=gpu, gpu_count=count)
        root = _root(RUNTIME.render(_single(plan), base.Options()))
        sku = catalog.get(root["resource"]["instanceType"])
        assert sku.cloud == "azure"
        assert sku.gpu_id == plan.gpu
        assert sku.gpu_count == pods.gpus_per_pod(plan)  # an exact fit exists for these
        assert sku.name in kaito_nodes.AZURE_SKUS


def test_azure_selects_a_label_kaito_stamps_not_the_reserved_cloud_label() -> None:
    plan = rendering.plan("llama-3.1-8b", cloud="azure", gpu="H100-NVL-94GB")
    out = RUNTIME.render(plan, base.Options())
    selector = _root(out)["spec"]["labelSelector"]["matchLabels"]
    assert selector == {"kubefoundry.io/deployment": plan.name}
    assert not set(selector) & set(plan.node_selector)
    alternatives = _decision(out, "node labels").alternatives
    assert "kubernetes.azure.com/accelerator" in alternatives[0].option


def test_existing_nodes_are_selected_by_the_labels_they_carry() -> None:
    plan = _single(rendering.plan("qwen3-0.6b", gpu="L4", gpu_count=1))
    assert plan.cost.cloud == "gcp"
    out = RUNTIME.render(plan, base.Options())
    ws = _root(out)
    assert ws["resource"]["labelSelector"] == {"matchLabels": plan.node_selector}
    assert "instanceType" not in ws["resource"]  # KAITO requires it empty on existing nodes
    assert any("disableNodeAutoProvisioning" in w for w in out.warnings)


def test_existing_nodes_without_a_known_label_are_refused_with_a_fix() -> None:
    plan = dataclasses.replace(rendering.plan("qwen3-0.6b", gpu="L4"), node_selector={})
    with pytest.raises(InvalidInputError, match="no node label") as err:
        RUNTIME.render(plan, base.Options())
    assert err.value.hint
    assert "node_pools" in err.value.hint


def test_a_gpu_kaito_cannot_provision_on_azure_is_refused_with_a_fix() -> None:
    plan = rendering.plan("qwen3-0.6b", cloud="azure", gpu="T4", tier="good")
    with pytest.raises(InvalidInputError, match="cannot provision") as err:
        RUNTIME.render(plan, base.Options())
    assert "A100" in str(err.value.hint)


def test_non_nvidia_gpus_are_refused() -> None:
    plan = dataclasses.replace(rendering.plan("qwen3-0.6b", gpu="L4"), gpu_resource="amd.com/gpu")
    with pytest.raises(InvalidInputError, match="NVIDIA"):
        RUNTIME.render(plan, base.Options())
    assert base.refusal(RUNTIME, rendering.plan("qwen3-0.6b"), base.Options(platform="gaudi3"))


@pytest.mark.parametrize(
    ("options", "tier", "words"),
    [
        (base.Options(disaggregated=True), "better", "prefill/decode disaggregation"),
    ],
)
def test_limits_are_declared_with_reasons(options: base.Options, tier: str, words: str) -> None:
    reason = base.refusal(RUNTIME, rendering.plan("qwen3-8b", tier=tier), options)
    assert reason
    assert words in reason


def test_a_preset_model_uses_the_preset_name_and_any_other_its_hub_id() -> None:
    llama = rendering.plan("llama-3.1-8b", cloud="azure", gpu="H100-NVL-94GB")
    assert kaito.preset_name(llama) == "llama-3.1-8b-instruct"
    qwen = rendering.plan("qwen3-0.6b", gpu="L4")
    assert kaito.preset_name(qwen) == "Qwen/Qwen3-0.6B"
    assert "not a KAITO preset" in _decision(RUNTIME.render(qwen, base.Options()), "model").reason


def test_the_token_secret_is_named_never_valued(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", rendering.CANARY)
    plan = rendering.plan(
        "llama-3.1-8b", cloud="azure", gpu="H100-NVL-94GB", hf_token_secret="hf-token"
    )
    out = RUNTIME.render(plan, base.Options())
    assert rendering.CANARY not in set(map(str, rendering.walk(list(out.manifests))))
    preset = _root(out)["spec"]["template"]["inference"]["preset"]
    assert preset["presetOptions"] == {"modelAccessSecret": "hf-token"}
    assert out.token is not None
    assert out.token.key == "HF_TOKEN"
    _, chosen = choosing.choose(
        dataclasses.replace(plan, runtime="kaito"), base.Options(), registry=registry.default()
    )
    (line,) = [w for w in chosen.warnings if "hf-token" in w]
    assert 'key "HF_TOKEN" of Secret hf-token' in line
    assert "--from-file=HF_TOKEN=" in line


def test_a_slow_cold_start_beyond_kaitos_startup_budget_is_warned() -> None:
    slow = rendering.plan("qwen3-235b", cloud="azure")
    assert slow.probes.cold_start_s > kaito.KAITO_STARTUP_S
    assert any("to start" in w for w in RUNTIME.render(slow, base.Options()).warnings)
    quick = rendering.plan("qwen3-32b", cloud="azure")
    assert not any("to start" in w for w in RUNTIME.render(quick, base.Options()).warnings)


def test_an_external_secret_writes_the_key_kaito_reads() -> None:
    plan = rendering.plan("llama-3.1-8b", cloud="azure", gpu="H100-NVL-94GB")
    out = RUNTIME.render(plan, base.Options(token=base.TokenOptions(source="external-secret")))
    (secret,) = rendering.find(out.manifests, "ExternalSecret")
    assert secret["spec"]["data"][0]["secretKey"] == kaito.TOKEN_KEY
    assert rendering.schema_problems(out.manifests) == []


def test_autoscaling_intent_becomes_kaito_scaler_annotations() -> None:
    plan = rendering.plan("llama-3.1-8b", cloud="azure", gpu="H100-NVL-94GB")
    out = RUNTIME.render(plan, base.Options())
    notes = _root(out)["metadata"]["annotations"]
    s = plan.autoscaling
    assert notes["scaledobject.kaito.sh/auto-provision"] == "true"
    assert notes["scaledobject.kaito.sh/min-replicas"] == str(s.min_replicas)
    assert notes["scaledobject.kaito.sh/max-replicas"] == str(s.max_replicas)
    assert notes["scaledobject.kaito.sh/metricName"] == s.signal
    assert notes["scaledobject.kaito.sh/threshold"] == f"{s.target:g}"
    assert str(s.cooldown_s) in _decision(out, "autoscaling").reason


def test_exposure_routes_to_the_pods_that_serve() -> None:
    plan = rendering.plan("llama-3.1-8b", cloud="azure", gpu="H100-NVL-94GB")
    out = RUNTIME.render(plan, base.Options(exposure="httproute"))
    (service,) = rendering.find(out.manifests, "Service")
    assert service["spec"]["selector"] == {
        "inferenceset.kaito.sh/created-by": plan.name,
        "apps.kubernetes.io/pod-index": "0",
    }
    (route,) = rendering.find(out.manifests, "HTTPRoute")
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": plan.name, "port": 80}]
    single = RUNTIME.render(_single(plan), base.Options(exposure="httproute"))
    assert not rendering.find(single.manifests, "Service")  # KAITO's own Service is the target


# --- golden files ---------------------------------------------------------------------------


def test_golden_azure_inference_set() -> None:
    plan = rendering.plan("llama-3.1-8b", tier="better", cloud="azure", gpu="H100-NVL-94GB")
    options = base.Options(exposure="httproute", host="llm.example.com")
    rendering.assert_golden("kaito/llama-3.1-8b-azure", RUNTIME.render(plan, options).manifests)


def test_golden_existing_nodes_workspace() -> None:
    plan = _single(rendering.plan("qwen3-0.6b", tier="better", gpu="L4", gpu_count=1))
    rendering.assert_golden(
        "kaito/qwen3-0.6b-gcp-existing-nodes", RUNTIME.render(plan, base.Options()).manifests
    )


# --- the same scenario as upstream's examples -----------------------------------------------


def _sample(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((SAMPLES / name).read_text()) if d]


def test_same_workspace_as_upstream_gated_llama() -> None:
    (upstream,) = _sample("kaito_workspace_llama-3.1_8b_instruct.yaml")
    plan = rendering.plan(
        "llama-3.1-8b", cloud="azure", gpu="A100-80GB-PCIe", gpu_count=4, hf_token_secret="hf-token"
    )
    out = RUNTIME.render(_single(plan), base.Options())
    ours = _root(out)
    assert rendering.schema_problems([upstream]) == []
    assert (ours["apiVersion"], ours["kind"]) == (upstream["apiVersion"], upstream["kind"])
    assert ours["resource"]["instanceType"] == upstream["resource"]["instanceType"]
    assert ours["resource"].get("count", 1) == upstream["resource"].get("count", 1)
    assert ours["resource"]["labelSelector"]["matchLabels"]
    assert ours["inference"]["preset"] == upstream["inference"]["preset"]


def test_same_workspace_shape_as_upstream_phi_4_mini() -> None:
    (upstream,) = _sample("kaito_workspace_phi_4_mini.yaml")
    # Phi-4-mini is not in our catalog; phi-4 on the same single A100 SKU is the same scenario.
    plan = rendering.plan("phi-4", cloud="azure", gpu="A100-80GB-PCIe", gpu_count=1)
    ours = _root(RUNTIME.render(_single(plan), base.Options()))
    assert (ours["apiVersion"], ours["kind"]) == (upstream["apiVersion"], upstream["kind"])
    assert ours["resource"]["instanceType"] == upstream["resource"]["instanceType"]
    assert ours["inference"]["preset"]["name"] == "phi-4"
    fake = dataclasses.replace(plan, model_id="microsoft/Phi-4-mini-instruct")
    assert kaito.preset_name(fake) == upstream["inference"]["preset"]["name"]


def test_same_config_map_contract_as_upstream_custom_config() -> None:
    upstream_config, upstream_ws = _sample("kaito_workspace_custom_config.yaml")
    theirs = yaml.safe_load(upstream_config["data"][kaito.CONFIG_KEY])
    assert upstream_ws["inference"]["config"] == upstream_config["metadata"]["name"]
    plan = rendering.plan("deepseek-r1-distill-llama-8b", cloud="azure", gpu="A100-80GB-PCIe")
    out = RUNTIME.render(_single(plan), base.Options())
    (config,) = rendering.find(out.manifests, "ConfigMap")
    assert list(config["data"]) == list(upstream_config["data"])
    ours = _settings(out)
    assert set(ours) <= set(theirs)  # the same top-level shape: a vllm map
    shared = {"max-model-len", "gpu-memory-utilization", "tensor-parallel-size"}
    assert shared <= set(ours["vllm"]) & set(theirs["vllm"])
    assert _root(out)["inference"]["config"] == config["metadata"]["name"]
    assert _root(out)["inference"]["preset"]["name"] == "deepseek-r1-distill-llama-8b"


def test_same_inference_set_as_upstream_with_kaito_scaler() -> None:
    (upstream,) = _sample("kaito_inferenceset_phi_4_mini.yaml")
    plan = rendering.plan("phi-4", cloud="azure", gpu="A100-80GB-PCIe", gpu_count=1)
    ours = _root(RUNTIME.render(plan, base.Options()))
    assert ours["kind"] == upstream["kind"]
    crd = yaml.safe_load(INFERENCESETS.read_text())
    served = {v["name"]: v for v in crd["spec"]["versions"] if v["served"]}
    assert upstream["apiVersion"].split("/")[1] in served
    assert served[ours["apiVersion"].split("/")[1]]["storage"]  # ours: the storage version
    ours_spec, their_spec = ours["spec"], upstream["spec"]
    assert ours_spec["template"]["resource"] == their_spec["template"]["resource"]
    assert ours_spec["labelSelector"]["matchLabels"]
    assert "nodeCountLimit" in ours_spec
    assert set(upstream["metadata"]["annotations"]) <= set(ours["metadata"]["annotations"])
    metric = "scaledobject.kaito.sh/metricName"
    # Upstream scales on requests waiting; the plan scales on requests running, because a
    # replica leaves its latency targets long before vLLM's batch is full and requests wait
    # (planning/capacity.py). Both are vLLM request gauges the scaler reads the same way.
    theirs_metric = upstream["metadata"]["annotations"][metric]
    assert theirs_metric == "vllm:num_requests_waiting"
    assert ours["metadata"]["annotations"][metric] == plan.autoscaling.signal
    assert plan.autoscaling.signal == "vllm:num_requests_running"


def test_pinned_kaito_on_azure_plans_only_machines_kaito_provisions() -> None:
    """Left to itself the planner puts Llama 3.1 8B on Azure T4s, which KAITO cannot
    provision; pinned to KAITO it buys only the SKUs KAITO's node estimator accepts."""
    from kubefoundry.catalog import models
    from kubefoundry.core.spec import DeploymentSpec
    from kubefoundry.deploy import rendering as deploy_rendering

    entry = models.ModelCatalog.load().get("llama-3.1-8b")
    free = rendering.plan("llama-3.1-8b", cloud="azure")
    assert free.cost.instance_type not in kaito_nodes.AZURE_SKUS
    request = DeploymentSpec(model="llama-3.1-8b", cloud="azure", runtime="kaito")
    runtime, plan = deploy_rendering.plan(request, entry, options=base.Options())
    assert runtime.name == "kaito"
    assert plan.cost.instance_type in kaito_nodes.AZURE_SKUS
    (gpu,) = [d for d in plan.decisions if d.topic == "gpu"]
    assert any("as an instance type kaito provisions" in a.why_not for a in gpu.alternatives)


def test_a_model_outside_kaitos_catalog_is_said_to_need_the_hub() -> None:
    """Found running KAITO v0.11.0's controller: for qwen2.5-7b it fetched the model's file
    list from huggingface.co to size it, and with no network the Workspace never started.
    phi-3-mini is in KAITO's catalog (and a legacy preset) and needs nothing."""

    def hub_warnings(model: str) -> list[str]:
        out = RUNTIME.render(rendering.plan(model, gpu="L4"), base.Options())
        return [w for w in out.warnings if "huggingface.co" in w]

    (said,) = hub_warnings("qwen2.5-7b")
    assert said.startswith("Qwen/Qwen2.5-7B-Instruct is not in KAITO's model catalog (KAITO")
    assert "air-gapped" in said
    assert hub_warnings("phi-3-mini") == []
    assert hub_warnings("gpt-oss-20b") == []
