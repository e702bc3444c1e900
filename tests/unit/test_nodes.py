"""Whole machines: what a plan's replicas occupy and cost, idle GPUs included (issue 9)."""

from __future__ import annotations

import pytest

from kubefoundry.catalog import gpus, instances, models
from kubefoundry.core.spec import DeploymentSpec
from kubefoundry.planning import nodes, planner

ONE = nodes.Machine(name="one", gpus=1, usd_per_hour=1.0, source="t")
FOUR = nodes.Machine(name="four", gpus=4, usd_per_hour=3.5, source="t")
EIGHT = nodes.Machine(name="eight", gpus=8, usd_per_hour=80.0, source="t")


def test_replicas_share_a_machine_and_its_idle_gpus_are_paid_for() -> None:
    got = nodes.layout(EIGHT, gpus_per_replica=1, replicas=2)
    assert (got.nodes, got.replicas_per_node, got.gpus_used, got.idle_gpus) == (1, 8, 2, 6)
    assert got.usd_per_hour == 80.0
    three = nodes.layout(EIGHT, gpus_per_replica=4, replicas=3)
    assert (three.nodes, three.idle_gpus, three.usd_per_hour) == (2, 4, 160.0)


def test_a_replica_larger_than_a_machine_spans_whole_machines() -> None:
    got = nodes.layout(EIGHT, gpus_per_replica=16, replicas=2)
    assert (got.nodes_per_replica, got.nodes, got.idle_gpus) == (2, 4, 0)


@pytest.mark.parametrize(
    ("replicas", "machine", "count", "price"),
    [
        (2, "one", 2, 2.0),  # two 1-GPU machines ($2) beat a 4-GPU one ($3.5)
        (3, "one", 3, 3.0),
        (4, "four", 1, 3.5),  # one 4-GPU machine ($3.5) beats four 1-GPU ones ($4)
        (5, "one", 5, 5.0),  # five 1-GPU machines ($5) beat two 4-GPU ones ($7)
    ],
)
def test_the_cheapest_whole_layout_is_picked(
    replicas: int, machine: str, count: int, price: float
) -> None:
    got = nodes.whole_nodes([ONE, FOUR, EIGHT], gpus_per_replica=1, replicas=replicas)
    assert got is not None
    assert (got.machine.name, got.nodes, got.usd_per_hour) == (machine, count, price)


def test_a_replica_needing_more_than_small_machines_skips_them() -> None:
    got = nodes.whole_nodes([ONE, FOUR, EIGHT], gpus_per_replica=2, replicas=1)
    assert got is not None
    assert (got.machine.name, got.idle_gpus, got.usd_per_hour) == ("four", 2, 3.5)


def test_own_gpus_are_priced_one_by_one() -> None:
    got = nodes.per_gpu(2.5, gpus_per_node=8, gpus_per_replica=2, replicas=3, source="mine")
    assert (got.usd_per_hour, got.idle_gpus, got.gpus_used) == (15.0, 0, 6)


def test_a_one_gpu_replica_on_a_cloud_that_sells_eight_pays_for_the_machine() -> None:
    """Azure sells the H100 SXM only as the 8-GPU ND96isr_H100_v5: two 1-GPU replicas pay for
    the whole machine, not two eighths of it."""
    catalog = instances.load()
    (row,) = list(catalog.for_gpu("H100-80GB-SXM", cloud="azure"))
    assert (row.name, row.gpu_count) == ("Standard_ND96isr_H100_v5", 8)
    request = DeploymentSpec(
        model="llama-3.1-8b", gpu="H100", gpu_count=1, cloud="azure", replicas=2
    )
    entry = models.ModelCatalog.load().get("llama-3.1-8b")
    plan = planner.plan(request, entry, gpus=gpus.load(), instances=catalog)
    assert plan.cost.instance_type == row.name
    assert (plan.cost.nodes, plan.cost.idle_gpus) == (1, 6)
    assert row.usd_per_hour is not None
    assert plan.cost.usd_per_hour_total == pytest.approx(row.usd_per_hour, abs=0.01)
    assert plan.cost.usd_per_hour_replica == pytest.approx(row.usd_per_hour / 2, abs=0.01)


def test_aws_sells_a_one_gpu_h100_so_a_one_gpu_replica_takes_it() -> None:
    catalog = instances.load()
    small = catalog.get("p5.4xlarge")
    request = DeploymentSpec(model="llama-3.1-8b", gpu="H100", gpu_count=1, cloud="aws")
    entry = models.ModelCatalog.load().get("llama-3.1-8b")
    plan = planner.plan(request, entry, gpus=gpus.load(), instances=catalog)
    assert plan.cost.instance_type == "p5.4xlarge"
    assert small.usd_per_hour is not None
    assert plan.cost.usd_per_hour_total == pytest.approx(small.usd_per_hour * plan.replicas)
    assert plan.cost.idle_gpus == 0
