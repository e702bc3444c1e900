"""vLLM alone: engine args from the plan, pods placed on the planned GPUs, schema-valid."""

from __future__ import annotations

import pytest
from tests.support import rendering

from kubefoundry.core.errors import InvalidInputError
from kubefoundry.runtimes import base, vllm
from kubefoundry.runtimes.common import engine

RUNTIME = vllm.VllmRuntime()


def _flag(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args else None


def test_engine_args_come_from_the_plan() -> None:
    plan = rendering.plan("llama-3.1-70b", tier="better", gpu="H100", gpu_count=4)
    out = RUNTIME.render(plan, base.Options())
    (deployment,) = rendering.find(out.manifests, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    assert args[0] == plan.model_id
    assert _flag(args, "--tensor-parallel-size") == str(plan.tensor_parallel)
    assert _flag(args, "--max-model-len") == str(plan.max_model_len)
    assert _flag(args, "--gpu-memory-utilization") == f"{plan.gpu_memory_utilization:g}"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == str(plan.gpu_count)
    assert rendering.replicas(out.manifests, deployment) == plan.replicas
    assert deployment["spec"]["template"]["spec"]["nodeSelector"] == plan.node_selector
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= plan.probes.cold_start_s
    assert any(v["name"] == "dshm" for v in deployment["spec"]["template"]["spec"]["volumes"])


def test_fp8_kv_cache_and_load_time_quantization_are_passed_on() -> None:
    plan = rendering.plan("llama-3.1-8b", gpu="H100", kv_cache_dtype="fp8", quantization="fp8")
    args = engine.args(plan)
    assert _flag(args, "--kv-cache-dtype") == "fp8"
    assert _flag(args, "--quantization") == "fp8"


def test_a_prequantized_checkpoint_gets_no_quantization_flag() -> None:
    plan = rendering.plan("RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic", gpu="H100")
    assert plan.quantization
    assert "--quantization" not in engine.args(plan)


def test_load_time_quantization_other_than_fp8_is_refused_with_a_fix() -> None:
    plan = rendering.plan("llama-3.1-8b", gpu="L4", quantization="awq")
    with pytest.raises(InvalidInputError, match="only to fp8") as err:
        RUNTIME.render(plan, base.Options())
    assert err.value.hint


def test_cache_is_per_model_and_kept_on_delete() -> None:
    a = RUNTIME.render(rendering.plan("qwen2.5-7b", name="one"), base.Options())
    b = RUNTIME.render(rendering.plan("qwen2.5-7b", name="two"), base.Options())
    (pvc_a,) = rendering.find(a.manifests, "PersistentVolumeClaim")
    (pvc_b,) = rendering.find(b.manifests, "PersistentVolumeClaim")
    assert pvc_a == pvc_b
    assert pvc_a["metadata"]["annotations"]["kubefoundry.io/keep-on-delete"] == "true"
    assert "kubefoundry.io/deployment" not in pvc_a["metadata"]["labels"]


def test_every_object_is_labelled_and_one_is_the_root() -> None:
    out = RUNTIME.render(rendering.plan("qwen2.5-7b"), base.Options(exposure="httproute"))
    roots = [
        m for m in out.manifests if "kubefoundry.io/root" in m["metadata"].get("annotations", {})
    ]
    assert len(roots) == 1
    for m in out.manifests:
        assert m["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubefoundry"


@pytest.mark.parametrize("exposure", ["httproute", "ingress", "apisix"])
def test_exposure_options_render_valid_objects(exposure: base.Exposure) -> None:
    options = base.Options(exposure=exposure, host="llm.example.com", monitoring="podmonitor")
    out = RUNTIME.render(rendering.plan("qwen2.5-7b"), options)
    assert rendering.schema_problems(out.manifests) == []
    assert {"Service"} <= {m["kind"] for m in out.manifests}


def test_multi_node_plans_are_refused_with_the_runtime_to_use() -> None:
    plan = rendering.plan("llama-3.1-405b", gpu="H100")
    assert plan.nodes_per_replica > 1
    reason = base.refusal(RUNTIME, plan, base.Options())
    assert reason
    assert "lws" in reason


def test_golden_llama_8b_better() -> None:
    plan = rendering.plan("llama-3.1-8b", tier="better", gpu="L4", cloud="gcp")
    options = base.Options(exposure="httproute", host="llm.example.com")
    rendering.assert_golden("vllm/llama-3.1-8b-better-l4", RUNTIME.render(plan, options).manifests)
