"""The planner over the whole catalog and every tier, plus pins, misfits and cluster facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubefoundry.catalog import gpus, instances, models
from kubefoundry.core.errors import DoesNotFitError, InvalidInputError, NotFoundError
from kubefoundry.core.facts import ClusterFacts, NodePool, load_facts
from kubefoundry.core.spec import DeploymentSpec
from kubefoundry.planning import planner, tiers

CATALOG = models.ModelCatalog.load()
GPUS = gpus.load()
INSTANCES = instances.load()


def _plan(model: str, facts: ClusterFacts | None = None, **pins: object) -> planner.Plan:
    request = DeploymentSpec.model_validate({"model": model, **pins})
    entry = CATALOG.get(model)
    return planner.plan(request, entry, gpus=GPUS, instances=INSTANCES, facts=facts)


def _attempt(model: str, tier: str) -> planner.Plan | DoesNotFitError:
    try:
        return _plan(model, tier=tier)
    except DoesNotFitError as exc:
        return exc


@pytest.mark.parametrize("tier", [t.name for t in tiers.all_tiers()])
@pytest.mark.parametrize("model", [e.id for e in CATALOG.all()])
def test_every_catalog_model_plans_or_explains(model: str, tier: str) -> None:
    plan = _attempt(model, tier)
    if isinstance(plan, DoesNotFitError):
        assert "GiB" in plan.message
        assert plan.hint
        assert plan.hint.startswith("Try:")
        return
    assert plan.memory.fits
    assert plan.gpu_count == plan.tensor_parallel * plan.pipeline_parallel
    assert plan.memory.max_concurrency >= 1
    assert plan.max_model_len >= tiers.get(tier).floor_context(
        CATALOG.get(model).arch.max_position_embeddings
    )
    assert plan.probes.startup_budget_s >= plan.probes.cold_start_s
    assert plan.cost.usd_per_hour_replica
    assert plan.cost.usd_per_hour_replica > 0
    assert any(d.topic == "gpu" for d in plan.decisions)


def test_tiers_trade_cost_for_context_and_redundancy() -> None:
    good, better, best = (_plan("llama-3.1-8b", tier=t) for t in ("good", "better", "best"))
    assert good.max_model_len < better.max_model_len < best.max_model_len
    assert good.replicas < better.replicas < best.replicas
    assert good.autoscaling.scale_to_zero
    assert not best.autoscaling.scale_to_zero
    assert (good.cost.usd_per_hour_total or 0) < (best.cost.usd_per_hour_total or 0)


def test_pins_are_honoured() -> None:
    plan = _plan("qwen2.5-7b", gpu="L4", gpu_count=2, replicas=3, context_length=8192)
    assert (plan.gpu, plan.gpu_count, plan.replicas, plan.max_model_len) == ("L4", 2, 3, 8192)
    assert plan.tensor_parallel == 2
    assert next(d for d in plan.decisions if d.topic == "gpu").reason == "pinned by the request"


def test_impossible_pin_reports_shortfall_and_fix() -> None:
    with pytest.raises(DoesNotFitError) as caught:
        _plan("llama-3.3-70b", gpu="L4", gpu_count=1)
    assert "117.5 GiB short per GPU" in caught.value.message
    assert "`gpu_count` 8 (" in (caught.value.hint or "")


def test_unknown_gpu_suggests() -> None:
    with pytest.raises(NotFoundError) as caught:
        _plan("llama-3.1-8b", gpu="H10")
    assert "H100" in caught.value.message


def test_unknown_model_suggests() -> None:
    with pytest.raises(NotFoundError) as caught:
        CATALOG.get("lama-3.1-8b")
    assert caught.value.suggestions


def test_cloud_restricts_offers() -> None:
    plan = _plan("llama-3.1-8b", cloud="gcp", tier="good")
    assert plan.cost.cloud == "gcp"


def test_onprem_price_is_used() -> None:
    plan = _plan("llama-3.1-8b", gpu="H100", usd_per_gpu_hour=1.5, tier="good")
    assert plan.cost.usd_per_hour_replica == pytest.approx(1.5 * plan.gpu_count)
    assert plan.cost.price_source == "your price"


def test_cluster_facts_limit_gpus_and_set_labels() -> None:
    facts = ClusterFacts(
        cloud="aws",
        node_pools=(
            NodePool(
                name="l4", gpu="L4", gpus_per_node=1, nodes=4, free_gpus=1, labels={"pool": "l4"}
            ),
        ),
    )
    plan = _plan("qwen2.5-7b", facts=facts, tier="good")
    assert plan.gpu == "L4"
    assert plan.node_selector == {"pool": "l4"}
    with pytest.raises(DoesNotFitError):
        _plan("llama-3.3-70b", facts=facts, tier="best")


def test_multi_node_uses_pipeline_stages() -> None:
    plan = _plan("deepseek-r1", tier="good", gpu="H100")
    assert plan.nodes_per_replica == plan.pipeline_parallel
    assert plan.gpu_count > plan.gpus_per_node


def test_facts_file_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "facts.yaml"
    bad.write_text("node_pools:\n  - name: a\n    gpu: L4\n    gpus_per_node: -1\n")
    with pytest.raises(InvalidInputError) as caught:
        load_facts(bad)
    assert "node_pools.0.gpus_per_node" in caught.value.message


def test_no_fix_is_said_plainly_when_the_cluster_cannot_hold_the_model() -> None:
    facts = ClusterFacts(
        cloud="aws", node_pools=(NodePool(name="small", gpu="L4", gpus_per_node=1, nodes=1),)
    )
    with pytest.raises(DoesNotFitError) as caught:
        _plan("llama-3.3-70b", facts=facts, gpu="L4")
    assert "No fix keeps `gpu` L4: even 1×L4 with FP8 weights and KV cache at 2,048 tokens is" in (
        caught.value.message
    )
    assert (caught.value.hint or "").startswith("No fix found: the planner tried")
    assert caught.value.fixes == ()
    with pytest.raises(DoesNotFitError) as missing:
        _plan("llama-3.3-70b", facts=facts, gpu="H100")
    assert "the cluster has no H100-80GB-SXM nodes (it has: L4). No fix keeps `gpu` H100." in (
        missing.value.message
    )


def test_a_gpu_sold_nowhere_is_kept_on_prem() -> None:
    with pytest.raises(DoesNotFitError) as caught:
        _plan("llama-3.3-70b", gpu="H100-80GB-PCIe", gpu_count=1)
    assert caught.value.fixes[0] == {"cloud": "onprem", "gpu_count": 4}
    assert _plan("llama-3.3-70b", gpu="H100-80GB-PCIe", **caught.value.fixes[0]).gpu_count == 4
