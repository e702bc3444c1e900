"""llm-d: vLLM pools behind an InferencePool and its endpoint picker, schema-valid against the
real CRDs and equivalent in substance to the Inference Extension's and llm-d's samples."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from tests.conftest import SHARED
from tests.support import rendering

from kubefoundry.core.errors import InvalidInputError
from kubefoundry.planning.plans import Plan
from kubefoundry.runtimes import base, llmd, llmd_picker
from kubefoundry.runtimes.common import scaling

RUNTIME = llmd.LlmdRuntime()
SAMPLES = SHARED / "upstream-samples"
MODES = {"aggregated": base.Options(), "disaggregated": base.Options(disaggregated=True)}


def _flag(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args else None


def _samples(path: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((SAMPLES / path).read_text()) if d]


def _one(
    manifests: tuple[dict[str, Any], ...], kind: str, name: str | None = None
) -> dict[str, Any]:
    (found,) = [m for m in rendering.find(manifests, kind) if name in (None, m["metadata"]["name"])]
    return found


def _qwen() -> Plan:
    return rendering.plan("qwen2.5-7b", tier="better", gpu="L4", cloud="gcp")


def _pool_deployments(out: base.Rendered, plan: Plan) -> list[dict[str, Any]]:
    return [
        m
        for m in rendering.find(out.manifests, "Deployment")
        if m["metadata"]["name"] != llmd_picker.name(plan)
    ]


def _picker_config(out: base.Rendered, plan: Plan) -> dict[str, Any]:
    config_map = _one(out.manifests, "ConfigMap", llmd_picker.name(plan))
    config: dict[str, Any] = yaml.safe_load(config_map["data"][llmd_picker.CONFIG_FILE])
    return config


# ---- every catalog plan ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_catalog_plan_renders_schema_valid_or_is_refused_with_a_reason(mode: str) -> None:
    options = MODES[mode]
    rendered = refused = 0
    for model, tier, plan in rendering.catalog_plans():
        reason = base.refusal(RUNTIME, plan, options)
        if reason:
            assert reason.startswith("llmd: no "), (model, tier, reason)
            assert reason.endswith(")"), reason
            refused += 1
            continue
        out = RUNTIME.render(plan, options)
        assert rendering.schema_problems(out.manifests) == [], (model, tier)
        rendered += 1
    assert rendered > 50
    assert refused > 0


def test_what_llmd_cannot_serve_names_the_runtime_to_use() -> None:
    big = rendering.plan("llama-3.1-405b", gpu="H100")
    assert "lws" in (base.refusal(RUNTIME, big, base.Options()) or "")
    assert "kserve" in (base.refusal(RUNTIME, _qwen(), base.Options(platform="gaudi")) or "")


# ---- the pool and what points at it ------------------------------------------------------------


@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_pool_selects_exactly_the_model_server_pods(mode: str) -> None:
    plan = _qwen()
    out = RUNTIME.render(plan, MODES[mode])
    pool = _one(out.manifests, "InferencePool")
    selector = pool["spec"]["selector"]["matchLabels"]
    deployments = _pool_deployments(out, plan)
    assert len(deployments) == (2 if mode == "disaggregated" else 1)
    for d in deployments:
        pod_labels = d["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= pod_labels.items(), d["metadata"]["name"]
        own = d["spec"]["selector"]["matchLabels"]
        assert own.items() <= pod_labels.items()
    picker_pods = _one(out.manifests, "Deployment", llmd_picker.name(plan))
    assert not selector.items() <= picker_pods["spec"]["template"]["metadata"]["labels"].items()
    own_selectors = [json.dumps(d["spec"]["selector"], sort_keys=True) for d in deployments]
    assert len(set(own_selectors)) == len(own_selectors)  # pools never adopt each other's pods


@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_pool_targets_the_port_its_pods_listen_on(mode: str) -> None:
    plan = _qwen()
    out = RUNTIME.render(plan, MODES[mode])
    (port,) = _one(out.manifests, "InferencePool")["spec"]["targetPorts"]
    for d in _pool_deployments(out, plan):
        spec = d["spec"]["template"]["spec"]
        listening = [
            p["containerPort"]
            for c in spec["containers"] + spec.get("initContainers", [])
            for p in c.get("ports", [])
        ]
        assert port["number"] in listening, d["metadata"]["name"]


def test_the_route_sends_traffic_to_the_pool_through_the_gateway() -> None:
    plan = _qwen()
    options = base.Options(exposure="httproute", host="llm.example.com", gateway="gw")
    out = RUNTIME.render(plan, options)
    route = _one(out.manifests, "HTTPRoute")
    (rule,) = route["spec"]["rules"]
    assert rule["backendRefs"] == [
        {"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": plan.name}
    ]
    assert _one(out.manifests, "InferencePool")["metadata"]["name"] == plan.name
    assert route["spec"]["parentRefs"] == [{"name": "gw"}]
    assert route["spec"]["hostnames"] == ["llm.example.com"]
    assert not out.warnings
    unexposed = RUNTIME.render(plan, base.Options())
    assert rendering.find(unexposed.manifests, "HTTPRoute")  # the pool's only way in
    assert any("HTTPRoute" in w for w in unexposed.warnings)


@pytest.mark.parametrize("exposure", ["ingress", "apisix"])
def test_routes_that_cannot_reach_a_pool_are_refused_with_a_fix(exposure: base.Exposure) -> None:
    with pytest.raises(InvalidInputError, match="InferencePool") as err:
        RUNTIME.render(_qwen(), base.Options(exposure=exposure))
    assert "httproute" in (err.value.hint or "")


def test_the_objective_names_the_pool_and_the_workload_sets_its_priority() -> None:
    plan = _qwen()
    chat = _one(RUNTIME.render(plan, base.Options()).manifests, "InferenceObjective")
    batch = _one(
        RUNTIME.render(plan, base.Options(workload="batch")).manifests, "InferenceObjective"
    )
    assert chat["spec"]["poolRef"] == {
        "group": "inference.networking.k8s.io",
        "kind": "InferencePool",
        "name": plan.name,
    }
    assert chat["spec"]["priority"] > 0 > batch["spec"]["priority"]


# ---- the endpoint picker -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_picker_is_wired_to_the_pool(mode: str) -> None:
    plan = _qwen()
    out = RUNTIME.render(plan, MODES[mode])
    ref = _one(out.manifests, "InferencePool")["spec"]["endpointPickerRef"]
    service = _one(out.manifests, "Service", ref["name"])
    assert ref["port"]["number"] in [p["port"] for p in service["spec"]["ports"]]
    picker = _one(out.manifests, "Deployment", ref["name"])
    pod = picker["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    assert _flag(container["args"], "--pool-name") == plan.name
    config_path = _flag(container["args"], "--config-file") or ""
    (mount,) = container["volumeMounts"]
    (volume,) = pod["spec"]["volumes"]
    assert config_path == f"{mount['mountPath']}/{llmd_picker.CONFIG_FILE}"
    assert volume["configMap"]["name"] == _one(out.manifests, "ConfigMap")["metadata"]["name"]


def test_the_pickers_rbac_lets_it_watch_pods_the_pool_and_objectives() -> None:
    plan = _qwen()
    out = RUNTIME.render(plan, base.Options())
    role = _one(out.manifests, "Role")
    granted = {
        (group, resource)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        if {"get", "list", "watch"} <= set(rule["verbs"])
    }
    assert {
        ("", "pods"),
        ("inference.networking.k8s.io", "inferencepools"),
        ("llm-d.ai", "inferenceobjectives"),
    } <= granted
    binding = _one(out.manifests, "RoleBinding")
    account = _one(out.manifests, "ServiceAccount")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["name"] == account["metadata"]["name"]
    picker = _one(out.manifests, "Deployment", llmd_picker.name(plan))
    assert picker["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    assert not rendering.find(out.manifests, "ClusterRole")  # namespaced only


@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_picker_scores_prefix_and_kv_cache_in_every_profile(mode: str) -> None:
    plan = _qwen()
    config = _picker_config(RUNTIME.render(plan, MODES[mode]), plan)
    assert config["kind"] == "EndpointPickerConfig"
    types = [p["type"] for p in config["plugins"]]
    assert {"prefix-cache-scorer", "kv-cache-utilization-scorer"} <= set(types)
    assert len(types) == len(set(types))
    for profile in config["schedulingProfiles"]:
        weights = {r["pluginRef"]: r.get("weight") for r in profile["plugins"]}
        assert set(weights) <= set(types)  # every reference names a declared plugin
        assert weights["prefix-cache-scorer"] > 0
        assert weights["kv-cache-utilization-scorer"] > 0
    names = {p["name"] for p in config["schedulingProfiles"]}
    assert names == ({"prefill", "decode"} if mode == "disaggregated" else {"default"})


def test_prefix_heavy_workloads_weigh_prefix_hits_above_queue_depth() -> None:
    plan = _qwen()
    rag = llmd_picker.weights(plan, base.Options(workload="rag"))
    batch = llmd_picker.weights(plan, base.Options(workload="batch"))
    assert rag["prefix-cache-scorer"] > rag["queue-scorer"]
    assert batch["queue-scorer"] > batch["prefix-cache-scorer"]


# ---- model servers -----------------------------------------------------------------------------


def test_engine_args_and_gpus_come_from_the_plan() -> None:
    plan = rendering.plan("llama-3.1-70b", tier="better", gpu="H100", gpu_count=4)
    out = RUNTIME.render(plan, base.Options())
    (deployment,) = _pool_deployments(out, plan)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[0] == plan.model_id
    assert _flag(args, "--tensor-parallel-size") == str(plan.tensor_parallel)
    assert _flag(args, "--max-model-len") == str(plan.max_model_len)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == str(plan.gpu_count)
    assert rendering.replicas(out.manifests, deployment) == plan.replicas


@pytest.mark.parametrize(("workload", "more"), [("chat", "decode"), ("rag", "prefill")])
def test_disaggregation_splits_replicas_labels_roles_and_wires_the_sidecar(
    workload: base.Workload, more: str
) -> None:
    plan = rendering.plan("qwen2.5-7b", tier="best", replicas=3)  # odd: one pool gets more
    out = RUNTIME.render(plan, base.Options(disaggregated=True, workload=workload))
    by_role = {
        d["spec"]["template"]["metadata"]["labels"][llmd.ROLE_LABEL]: d
        for d in _pool_deployments(out, plan)
    }
    assert set(by_role) == {"prefill", "decode"}
    replicas = {role: rendering.replicas(out.manifests, d) for role, d in by_role.items()}
    assert sum(replicas.values()) == max(plan.replicas, 2)
    other = "decode" if more == "prefill" else "prefill"
    assert replicas[more] > replicas[other]
    decode = by_role["decode"]["spec"]["template"]["spec"]
    (sidecar,) = decode["initContainers"]
    vllm_port = _flag(decode["containers"][0]["args"], "--port")
    assert f"--vllm-port={vllm_port}" in sidecar["args"]
    assert sidecar["restartPolicy"] == "Always"
    for d in by_role.values():
        args = d["spec"]["template"]["spec"]["containers"][0]["args"]
        assert (
            json.loads(_flag(args, "--kv-transfer-config") or "{}")["kv_connector"]
            == "NixlConnector"
        )


def test_every_pool_scales_on_its_own_pods() -> None:
    plan = _qwen()
    assert scaling.wants_scaler(plan)
    out = RUNTIME.render(plan, base.Options(disaggregated=True))
    scalers = rendering.find(out.manifests, "ScaledObject")
    deployments = {d["metadata"]["name"] for d in _pool_deployments(out, plan)}
    assert {s["spec"]["scaleTargetRef"]["name"] for s in scalers} == deployments
    queries = [s["spec"]["triggers"][0]["metadata"]["query"] for s in scalers]
    assert len(set(queries)) == len(queries)
    for s in scalers:
        assert s["spec"]["scaleTargetRef"]["name"] in s["spec"]["triggers"][0]["metadata"]["query"]
    assert sum(s["spec"]["minReplicaCount"] for s in scalers) >= plan.autoscaling.min_replicas
    for kind in ("ScaledObject", "PodDisruptionBudget"):  # one each per pool, never clashing
        found = [m["metadata"]["name"] for m in rendering.find(out.manifests, kind)]
        assert sorted(found) == sorted(deployments), kind


@pytest.mark.parametrize("monitoring", ["servicemonitor", "podmonitor"])
def test_monitoring_reaches_vllm_in_every_pool_and_the_picker(monitoring: base.Monitoring) -> None:
    plan = _qwen()
    out = RUNTIME.render(plan, base.Options(disaggregated=True, monitoring=monitoring))
    kind = "ServiceMonitor" if monitoring == "servicemonitor" else "PodMonitor"
    servers = _one(out.manifests, kind, plan.name)
    selector = servers["spec"]["selector"]["matchLabels"]
    assert selector == _one(out.manifests, "InferencePool")["spec"]["selector"]["matchLabels"]
    if monitoring == "servicemonitor":
        service = _one(out.manifests, "Service", f"{plan.name}-metrics")
        assert selector.items() <= service["metadata"]["labels"].items()
        assert service["spec"]["selector"] == selector
    picker = _one(out.manifests, kind, llmd_picker.name(plan))
    assert (
        picker["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        == llmd_picker.COMPONENT
    )
    assert rendering.schema_problems(out.manifests) == []


def test_exactly_one_root_object_and_every_object_is_ours() -> None:
    out = RUNTIME.render(_qwen(), base.Options(disaggregated=True))
    roots = [
        m for m in out.manifests if "kubefoundry.io/root" in m["metadata"].get("annotations", {})
    ]
    assert [r["kind"] for r in roots] == ["InferencePool"]
    for m in out.manifests:
        assert m["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubefoundry"


# ---- golden files -----------------------------------------------------------------------------

GOLDEN = {
    "llama-3.1-8b-better-l4": (
        "llama-3.1-8b",
        base.Options(exposure="httproute", host="llm.example.com"),
    ),
    "qwen2.5-7b-pd-rag": (
        "qwen2.5-7b",
        base.Options(disaggregated=True, workload="rag", monitoring="podmonitor"),
    ),
}


@pytest.mark.parametrize("scenario", sorted(GOLDEN))
def test_golden(scenario: str) -> None:
    model, options = GOLDEN[scenario]
    plan = rendering.plan(model, tier="better", gpu="L4", cloud="gcp")
    rendering.assert_golden(f"llmd/{scenario}", RUNTIME.render(plan, options).manifests)


# ---- equivalence with the Inference Extension's and llm-d's samples ----------------------------


def test_pool_and_picker_match_the_inference_extensions_resources() -> None:
    samples = _samples("gateway-api-inference-extension/inferencepool-resources.yaml")
    plan = _qwen()
    out = RUNTIME.render(plan, base.Options())
    theirs_pool = next(s for s in samples if s["kind"] == "InferencePool")
    ours_pool = _one(out.manifests, "InferencePool")
    assert ours_pool["apiVersion"] == theirs_pool["apiVersion"]
    assert set(theirs_pool["spec"]) == set(ours_pool["spec"])
    for key in ("kind", "port"):
        assert (
            ours_pool["spec"]["endpointPickerRef"][key]
            == theirs_pool["spec"]["endpointPickerRef"][key]
        )
    assert ours_pool["spec"]["targetPorts"] == theirs_pool["spec"]["targetPorts"]
    kinds = {s["kind"] for s in samples} - {"ClusterRole", "ClusterRoleBinding"}
    assert kinds <= {m["kind"] for m in out.manifests}  # cluster RBAC: metrics auth is off
    theirs_epp = next(s for s in samples if s["kind"] == "Deployment")["spec"]["template"]["spec"]
    ours_epp = _one(out.manifests, "Deployment", llmd_picker.name(plan))["spec"]["template"]["spec"]
    ports = {p["containerPort"] for p in ours_epp["containers"][0]["ports"]}
    assert ports == {p["containerPort"] for p in theirs_epp["containers"][0]["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        assert (
            ours_epp["containers"][0][probe]["grpc"] == theirs_epp["containers"][0][probe]["grpc"]
        )
    theirs_role = next(s for s in samples if s["kind"] == "Role")
    needed = {
        r
        for rule in theirs_role["rules"]
        if rule["apiGroups"] != ["inference.networking.x-k8s.io"]
        for r in rule["resources"]
    }
    ours_role = _one(out.manifests, "Role")
    assert needed <= {r for rule in ours_role["rules"] for r in rule["resources"]}
    theirs_config = yaml.safe_load(
        next(s for s in samples if s["kind"] == "ConfigMap")["data"]["default-plugins.yaml"]
    )
    ours_config = _picker_config(out, plan)
    assert {p["type"] for p in theirs_config["plugins"]} <= {
        p["type"] for p in ours_config["plugins"]
    }


def test_route_matches_the_inference_extensions_httproute() -> None:
    (theirs,) = _samples("gateway-api-inference-extension/istio-httproute.yaml")
    ours = _one(RUNTIME.render(_qwen(), base.Options()).manifests, "HTTPRoute")
    assert (ours["apiVersion"], ours["kind"]) == (theirs["apiVersion"], theirs["kind"])
    (t_rule,), (o_rule,) = theirs["spec"]["rules"], ours["spec"]["rules"]
    assert [{k: v for k, v in b.items() if k != "name"} for b in o_rule["backendRefs"]] == [
        {k: v for k, v in b.items() if k != "name"} for b in t_rule["backendRefs"]
    ]
    assert o_rule["matches"] == t_rule["matches"]
    assert o_rule["timeouts"] == t_rule["timeouts"]
    assert ours["spec"]["parentRefs"][0]["name"] == theirs["spec"]["parentRefs"][0]["name"]


def test_model_servers_match_llm_ds_vllm_deployment() -> None:
    (theirs,) = _samples("llm-d/vllm-gpu-deployment.yaml")
    plan = rendering.plan("llama-3.1-8b", tier="better", gpu="L4", cloud="gcp")
    (ours,) = _pool_deployments(RUNTIME.render(plan, base.Options()), plan)
    assert (ours["apiVersion"], ours["kind"]) == (theirs["apiVersion"], theirs["kind"])
    t_pod, o_pod = theirs["spec"]["template"], ours["spec"]["template"]
    engine = llmd.ENGINE_LABEL
    assert o_pod["metadata"]["labels"][engine] == t_pod["metadata"]["labels"][engine]
    assert o_pod["spec"]["enableServiceLinks"] is t_pod["spec"]["enableServiceLinks"] is False
    t_c, o_c = t_pod["spec"]["containers"][0], o_pod["spec"]["containers"][0]
    assert o_c["ports"][0]["containerPort"] == t_c["ports"][0]["containerPort"]
    assert o_c["ports"][0]["name"] == t_c["ports"][0]["name"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert o_c[probe]["httpGet"]["path"] == t_c[probe]["httpGet"]["path"]
        assert o_c[probe]["httpGet"]["port"] == t_c[probe]["httpGet"]["port"]
    t_token = next(e for e in t_c["env"] if "valueFrom" in e)["valueFrom"]
    o_token = next(e for e in o_c["env"] if e["name"] == "HF_TOKEN")["valueFrom"]
    assert set(o_token) == set(t_token) == {"secretKeyRef"}
    assert {"/dev/shm"} <= {m["mountPath"] for m in o_c["volumeMounts"]}


def test_objective_matches_llm_ds_inference_objective() -> None:
    theirs = _samples("llm-d/inferenceobjective.yaml")[0]
    ours = _one(RUNTIME.render(_qwen(), base.Options()).manifests, "InferenceObjective")
    assert (ours["apiVersion"], ours["kind"]) == (theirs["apiVersion"], theirs["kind"])
    assert set(ours["spec"]) == set(theirs["spec"])
    assert ours["spec"]["poolRef"]["group"] == theirs["spec"]["poolRef"]["group"]
