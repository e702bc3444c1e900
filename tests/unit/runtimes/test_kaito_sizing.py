"""KAITO sizes each replica itself (its v0.11.0 node estimator): the figures it logs, by hand,
and a plan whose count it overrides carries KAITO's count, GPUs and price."""

from __future__ import annotations

import dataclasses

import pytest
from tests.support import rendering

from kubefoundry.catalog import instances
from kubefoundry.runtimes import base, choosing, kaito, kaito_nodes, kaito_sizing

RUNTIME = kaito.KaitoRuntime()
GIB = 1 << 30

# What KAITO v0.11.0's workspace controller logged for gpt-oss-20b on the sandbox's L4 nodes
# (nvidia.com/gpu.memory=22528, nvidia.com/gpu.count=1, maxModelLen 32768).
KAITO_LOG = (
    "modelSize(28070403009), gpuMemPerGPU(23622320128), availGPUMem(19842748908), "
    "fixedReserve(4080218931), availMemPerGPU(15011933311), minGPUs(2) => "
    "nodeCountPerReplica(2)"
)


def _on_l4(model_id: str, *, context: int) -> kaito_sizing.Estimate:
    weights = kaito_sizing.catalog_weights(model_id)
    assert weights is not None
    return kaito_sizing.estimate(
        weights=weights,
        node_gpu_memory=kaito_sizing.node_memory_from_labels(22528, 1),
        gpus_per_node=1,
        max_model_len=context,
    )


def test_gpt_oss_20b_on_l4_takes_two_nodes_as_kaito_logged() -> None:
    # modelFileSize 25.63Gi: 25.63 × 2^30 = 27520002949.12, read up to a whole byte
    file_bytes = 27_520_002_950
    assert kaito_sizing.quantity_bytes("25.63Gi") == file_bytes
    model_size = file_bytes * 1.02  # 28070403009
    per_gpu = 22 * GIB  # 22528 MiB = 22 GiB on one GPU: 23622320128
    avail = per_gpu * 0.84  # 19842748907.52
    per_token = 2 * 8 * 64 * 24 * 2  # K and V × kv heads × head dim × layers × fp16: 49152
    reserve = 2.3 * GIB + 32768 * per_token / 1  # 4080218931.2
    for_weights = (avail - reserve) / 1.05  # 15011933310.78
    min_gpus = int(model_size / for_weights) + 1  # 1.87 → 2

    est = _on_l4("openai/gpt-oss-20b", context=32768)

    assert round(est.model_size) == round(model_size) == 28_070_403_009
    assert est.gpu_mem_per_gpu == per_gpu == 23_622_320_128
    assert est.avail_gpu_mem == pytest.approx(avail)
    assert est.fixed_reserve == pytest.approx(reserve)
    assert est.avail_mem_per_gpu == pytest.approx(for_weights)
    assert (est.min_gpus, est.nodes_per_replica) == (min_gpus, 2) == (2, 2)
    assert est.log() == KAITO_LOG


def test_phi_3_mini_on_l4_stays_on_one_node() -> None:
    # 7.12Gi × 1.02 = 7.3 GiB against the same 14.0 GiB per GPU (96-dim heads, 32 kv heads)
    est = _on_l4("microsoft/Phi-3-mini-4k-instruct", context=4096)
    assert kaito_sizing.kv_bytes_per_token(layers=32, kv_heads=32, head_dim=96) == 393216
    assert (est.min_gpus, est.nodes_per_replica) == (1, 1)


def test_a_context_whose_reserve_fills_the_gpu_is_refused_as_kaito_does() -> None:
    est = _on_l4("meta-llama/Llama-3.3-70B-Instruct", context=131072)
    assert est.refused
    assert est.nodes_per_replica == 0


def test_nodes_round_up_to_whole_nodes_of_the_nodes_gpus() -> None:
    weights = kaito_sizing.catalog_weights("openai/gpt-oss-120b")
    assert weights is not None
    est = kaito_sizing.estimate(
        weights=weights, node_gpu_memory=8 * 22 * GIB, gpus_per_node=8, max_model_len=8192
    )
    # 121.54Gi × 1.02 = 124.0 GiB over (22 GiB × 0.84 − 2.3 GiB − 8192 × 73728 B / 8) / 1.05
    # = 15.3 GiB per GPU: 8.08 → 9 GPUs, two nodes of eight
    assert (est.min_gpus, est.nodes_per_replica) == (9, 2)


def test_kaitos_catalog_entries_are_models_of_ours_with_a_kaito_preset() -> None:
    ours = rendering.catalog()
    assert len(kaito_sizing.CATALOG) == 10
    for model_id in kaito_sizing.CATALOG:
        assert ours.find(model_id) is not None, model_id
        assert model_id in kaito.PRESETS, model_id


def test_a_model_outside_kaitos_catalog_uses_our_size_and_says_so() -> None:
    plan = rendering.plan("qwen3-0.6b", gpu="L4", gpu_count=1)
    weights = kaito_sizing.weights(plan)
    assert weights is not None
    assert "our estimate of the repo's size" in weights.source
    assert weights.file_bytes == round(plan.model_gib * GIB)


def test_azure_nodes_are_sized_from_kaitos_sku_table() -> None:
    assert set(kaito_nodes.AZURE_SKU_GPU_MEMORY) == kaito_nodes.AZURE_SKUS
    plan = rendering.plan("llama-3.1-8b", tier="better", cloud="azure", gpu="H100-NVL-94GB")
    gpus, memory = kaito_nodes.AZURE_SKU_GPU_MEMORY["Standard_NC40ads_H100_v5"]
    sku = kaito_sizing.Sku("Standard_NC40ads_H100_v5", gpus, memory)
    shape = kaito_sizing.node_memory(plan, sku=sku, catalog=instances.load())
    assert (shape.total, shape.gpus) == (94 * GIB, 1)


# --- the plan says what KAITO will do -------------------------------------------------------


def test_the_plan_and_price_for_gpt_oss_20b_on_l4_are_kaitos_two_nodes() -> None:
    plan = rendering.plan("gpt-oss-20b", gpu="L4")
    assert (plan.gpu_count, plan.nodes_per_replica, plan.max_model_len) == (1, 1, 32768)

    served = choosing.adapt(plan, RUNTIME)

    assert (served.gpu_count, served.nodes_per_replica) == (2, 2)
    assert served.cost.nodes == 2 * plan.replicas
    assert plan.cost.usd_per_hour_total is not None
    assert served.cost.usd_per_hour_total == pytest.approx(2 * plan.cost.usd_per_hour_total)
    assert served.cost.usd_per_hour_replica == pytest.approx(
        2 * (plan.cost.usd_per_hour_replica or 0)
    )
    (decision,) = [d for d in served.decisions if d.topic == "KAITO node estimate"]
    assert decision.choice.startswith("2 nodes per replica (2×L4), not the planned 1")
    assert "sizes each replica itself" in decision.reason
    assert "minGPUs(2) => nodeCountPerReplica(2)" in decision.reason
    assert any("KAITO will run each replica on 2 nodes" in w for w in served.warnings)

    out = RUNTIME.render(served, base.Options())
    (root,) = [m for m in out.manifests if m["kind"] in ("Workspace", "InferenceSet")]
    if root["kind"] == "InferenceSet":
        assert root["spec"]["nodeCountLimit"] == 2 * served.autoscaling.max_replicas
    else:
        assert root["resource"]["count"] == 2


def test_a_single_workspace_asks_for_kaitos_count() -> None:
    plan = rendering.plan("gpt-oss-20b", gpu="L4")
    single = dataclasses.replace(
        plan,
        replicas=1,
        autoscaling=dataclasses.replace(plan.autoscaling, min_replicas=1, max_replicas=1),
    )
    out = RUNTIME.render(choosing.adapt(single, RUNTIME), base.Options())
    (root,) = [m for m in out.manifests if m["kind"] == "Workspace"]
    assert root["resource"]["count"] == 2


def test_a_plan_kaito_agrees_with_is_left_alone() -> None:
    plan = rendering.plan("phi-3-mini-4k", gpu="L4")
    served = choosing.adapt(plan, RUNTIME)
    assert (served.gpu_count, served.nodes_per_replica) == (1, 1)
    assert served.cost == plan.cost
    assert not [d for d in served.decisions if d.topic == "KAITO node estimate"]


def test_adapting_twice_changes_nothing_more() -> None:
    for model in ("gpt-oss-20b", "qwen3-0.6b"):
        once = choosing.adapt(rendering.plan(model, gpu="L4"), RUNTIME)
        assert choosing.adapt(once, RUNTIME) == once, model
