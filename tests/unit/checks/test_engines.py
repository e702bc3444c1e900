"""Engine settings in every dialect, the pieces that resolve hardware, and the Serve config."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.checks.support import catalogs, schemas

from kubefoundry.checks import engines, hardware, rayserve, selectors
from kubefoundry.checks.context import Context
from kubefoundry.core.facts import ClusterFacts, NodePool


@pytest.mark.parametrize(
    ("container", "model", "tp", "pp", "max_len", "is_vllm"),
    [
        (
            {"args": ["--model", "Qwen/Qwen3-8B", "--tensor-parallel-size", "2"]},
            "Qwen/Qwen3-8B",
            2,
            None,
            None,
            False,
        ),
        (
            {
                "command": ["vllm", "serve", "Qwen/Qwen3-8B"],
                "args": ["-tp", "4", "--max-model-len=16k"],
            },
            "Qwen/Qwen3-8B",
            4,
            None,
            16000,
            True,
        ),
        (
            {
                "command": ["python3", "-m", "vllm.entrypoints.openai.api_server"],
                "args": ["--model=meta-llama/Llama-3.1-8B-Instruct", "--max_model_len", "8K"],
            },
            "meta-llama/Llama-3.1-8B-Instruct",
            None,
            None,
            8192,
            True,
        ),
        (
            {
                "command": ["sh", "-c"],
                "args": [
                    "bash x.sh leader; python3 -m vllm.entrypoints.openai.api_server --port 8080 "
                    "--model m/x --tensor-parallel-size 8 --pipeline_parallel_size 2"
                ],
            },
            "m/x",
            8,
            2,
            None,
            True,
        ),
        (
            {
                "image": "vllm/vllm-openai:v0.10.1",
                "args": ["--model", "a/b", "--enable-lora", "--max-loras", "2"],
            },
            "a/b",
            None,
            None,
            None,
            True,
        ),
        (
            {
                "image": "ghcr.io/huggingface/text-generation-inference:2.4.0",
                "env": [{"name": "MODEL_ID", "value": "meta-llama/Llama-3.2-1B"}],
            },
            "meta-llama/Llama-3.2-1B",
            None,
            None,
            None,
            False,
        ),
        (
            {"command": ["python3", "-m", "dynamo.vllm"], "args": ["--model", "Q/x"]},
            "Q/x",
            None,
            None,
            None,
            True,
        ),
        ({"command": ["sh", "-c", "echo 'unbalanced"]}, None, None, None, None, False),
    ],
)
def test_engine_args_from_containers(
    container: dict[str, Any],
    model: str | None,
    tp: int | None,
    pp: int | None,
    max_len: int | None,
    is_vllm: bool,
) -> None:
    args = engines.from_container(container)
    assert (args.model, args.tp, args.pp, args.max_model_len, args.is_vllm) == (
        model,
        tp,
        pp,
        max_len,
        is_vllm,
    )


def test_engine_args_from_mappings_and_defaults() -> None:
    args = engines.from_kwargs(
        {"tensor_parallel_size": 2, "max_model_len": 4096, "enforce_eager": True}
    )
    assert (args.tp, args.max_model_len, args.world, args.is_vllm) == (2, 4096, 2, True)
    merged = args.merged(tensor_parallel_size=8, pipeline_parallel_size=2, data_parallel_size=None)
    assert (merged.tp, merged.pp, merged.dp) == (2, 2, None)  # given values win
    assert engines.EngineArgs(flags={}, image="vllm/vllm-openai:v0.8.5").vllm_version == "0.8.5"
    assert engines.EngineArgs(flags={}, image="busybox:1.36").vllm_version is None


def _ctx(facts: ClusterFacts | None = None) -> Context:
    return Context(documents=(), schemas=schemas(), catalogs=catalogs(), facts=facts)


@pytest.mark.parametrize(
    ("pod", "gpu"),
    [
        ({"nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-L4"}}, "L4"),
        (
            {"nodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}},
            "H100-80GB-SXM",
        ),
        ({"nodeSelector": {"node.kubernetes.io/instance-type": "g5.xlarge"}}, "A10G"),
        (
            {
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {
                                            "key": "nvidia.com/gpu.product",
                                            "operator": "In",
                                            "values": ["NVIDIA-L4", "NVIDIA-A100-SXM4-80GB"],
                                        }
                                    ]
                                }
                            ]
                        }
                    }
                }
            },
            "A100-80GB-SXM",
        ),
        ({"nodeSelector": {"nvidia.com/gpu.present": "true"}}, None),
        ({"nodeSelector": {"nvidia.com/gpu.product": "Unknown-GPU"}}, None),
    ],
)
def test_gpu_from_node_requirements(pod: dict[str, Any], gpu: str | None) -> None:
    found = hardware.for_pod(pod, _ctx())
    assert (found.gpu.id if found else None) == gpu


def test_gpu_from_cluster_facts_when_labels_do_not_name_it() -> None:
    facts = ClusterFacts(
        node_pools=(
            NodePool(name="gpu", gpu="L40S", gpus_per_node=4, nodes=1, labels={"pool": "gpu"}),
            NodePool(name="cpu", labels={"pool": "cpu"}),
        )
    )
    found = hardware.for_pod({"nodeSelector": {"pool": "gpu"}}, _ctx(facts))
    assert found is not None
    assert found.gpu.id == "L40S"


def test_models_are_found_in_the_catalog_only() -> None:
    ctx = _ctx()
    assert hardware.model("hf://meta-llama/Llama-3.1-8B-Instruct", ctx) is not None
    assert hardware.model("llama-3.1-8b-instruct", ctx) is not None  # a KAITO preset name
    assert hardware.model("/mnt/models", ctx) is None
    assert hardware.model("s3://bucket/llama", ctx) is None
    assert hardware.model("someone/unknown-model", ctx) is None


@pytest.mark.parametrize(
    ("op", "values", "labels", "ok"),
    [
        ("In", ("a",), {"k": "a"}, True),
        ("In", ("a",), {"k": "b"}, False),
        ("NotIn", ("a",), {}, True),
        ("Exists", (), {"k": ""}, True),
        ("DoesNotExist", (), {"k": "x"}, False),
        ("Gt", ("4",), {"k": "8"}, True),
        ("Lt", ("4",), {"k": "x"}, False),
    ],
)
def test_requirements_match_like_the_scheduler(
    op: str, values: tuple[str, ...], labels: dict[str, str], ok: bool
) -> None:
    assert selectors.Requirement("k", op, values).matches(labels) is ok


@pytest.mark.parametrize(
    ("config", "gpus", "largest", "low", "high"),
    [
        ("deployments: [{name: d, ray_actor_options: {num_gpus: 2}, num_replicas: 3}]", 2, 2, 3, 3),
        ("deployments: [{name: d, placement_group_bundles: [{GPU: 1}, {GPU: 1}]}]", 2, 1, 1, 1),
        (
            "deployments: [{name: d, placement_group_bundles: [{GPU: 1}, {GPU: 1}], "
            "placement_group_strategy: STRICT_PACK}]",
            2,
            2,
            1,
            1,
        ),
        (
            "deployments: [{name: d, num_replicas: auto, ray_actor_options: {num_gpus: 1}}]",
            1,
            1,
            1,
            100,
        ),
        (
            "args: {llm_configs: [{engine_kwargs: {tensor_parallel_size: 4, "
            "pipeline_parallel_size: 2}, deployment_config: {autoscaling_config: "
            "{min_replicas: 1, max_replicas: 2}}}]}",
            8,
            1,
            1,
            2,
        ),
        ("deployments: [{name: d, ray_actor_options: {num_cpus: 1}}]", None, 0, 1, 1),
    ],
)
def test_serve_config_gpu_needs(
    config: str, gpus: float | None, largest: float, low: int, high: int
) -> None:
    parsed = rayserve.parse(f"applications:\n  - name: a\n    {config}\n")
    (dep,) = parsed.deployments
    assert (dep.gpus, dep.largest_unit, dep.min_replicas, dep.max_replicas) == (
        gpus,
        largest,
        low,
        high,
    )


@pytest.mark.parametrize("text", ["applications: [\n", "- 1\n", "applications: {}\n"])
def test_serve_config_errors(text: str) -> None:
    with pytest.raises(rayserve.ServeConfigError):
        rayserve.parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "applications: [1, x, {deployments: x}, {args: {llm_configs: x}}, {args: [1]}]\n",
        "applications: [{deployments: [1, {ray_actor_options: [1], num_replicas: x}]}]\n",
        "applications: [{args: {llm_configs: [1, {engine_kwargs: [1], deployment_config: 2}]}}]\n",
        "applications: [{deployments: [{placement_group_bundles: [1, {GPU: x}]}]}]\n",
    ],
)
def test_serve_configs_of_odd_shapes_parse(text: str) -> None:
    rayserve.parse(text)
