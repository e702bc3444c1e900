"""The catalog's "fits on" table and its search filters (task, licence, the cluster's pools).

The table must be the planner's verdict: for a sample of models across sizes, precisions and
architectures, the count listed for a GPU is the one ``planner.plan`` picks when that GPU is
pinned and the count left out, and a GPU is left out exactly when the planner finds no plan on
one node of it.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubefoundry.catalog import gpus, instances, models
from kubefoundry.core.errors import DoesNotFitError, RetryableError
from kubefoundry.core.facts import ClusterFacts, NodePool
from kubefoundry.core.spec import SpecError
from kubefoundry.deploy import fitting, views
from kubefoundry.planning import explaining, planner

SAMPLE = [
    "llama-3.2-1b",
    "qwen3-8b",
    "gemma-3-27b",  # multimodal
    "qwen3-32b",
    "qwen2.5-7b-awq",  # shipped quantized
    "llama-3.1-70b",
    "mixtral-8x7b",  # MoE
    "gpt-oss-120b",  # mxfp4
    "qwen3-235b-a22b",
    "deepseek-r1",  # MLA, fp8 checkpoint
    "llama-3.1-405b",
]
GPUS = ["T4", "A10G", "L4", "L40S", "A100-40GB", "A100-80GB", "H100", "H200", "B200"]


@pytest.fixture(scope="module")
def catalog() -> models.ModelCatalog:
    return models.ModelCatalog.load()


@pytest.mark.parametrize("name", SAMPLE)
def test_the_listed_count_is_what_the_planner_picks_with_the_gpu_pinned(
    name: str, catalog: models.ModelCatalog
) -> None:
    entry = catalog.get(name)
    listed = {f.gpu: f.count for f in fitting.fits_on(entry)}
    for gpu in (gpus.load().get(g) for g in GPUS):
        spec = fitting.request(entry, gpu.id)
        assert spec.gpu_count is None
        assert spec.gpu == gpu.id
        try:
            plan = planner.plan(spec, entry, gpus=gpus.load(), instances=instances.load())
        except DoesNotFitError:
            assert gpu.id not in listed, f"{name} on {gpu.id}: the planner finds no plan"
            continue
        if plan.gpu_count > fitting.NODE_GPUS:  # more than one node: not listed
            assert gpu.id not in listed, f"{name} on {gpu.id}: planned on {plan.gpu_count}"
        else:
            assert listed.get(gpu.id) == plan.gpu_count, f"{name} on {gpu.id}"
            assert plan.max_model_len == fitting.context(entry)
            shipped = entry.arch.quantization
            assert plan.quantization == (shipped.method if shipped else None)  # as shipped
            assert plan.kv_cache_dtype == "auto"


def test_the_table_spans_small_to_huge_and_lists_only_served_gpus(
    catalog: models.ModelCatalog,
) -> None:
    small = {f.gpu: f.count for f in fitting.fits_on(catalog.get("llama-3.2-1b"))}
    served = [g.id for g in gpus.load().all() if g.vendor in explaining.SERVED_VENDORS]
    assert list(small) == served  # catalog order, every NVIDIA GPU, one of each
    assert set(small.values()) == {1}
    big = {f.gpu: f.count for f in fitting.fits_on(catalog.get("llama-3.1-405b"))}
    assert "H100-80GB-SXM" not in big
    assert "L4" not in big
    seventy = {f.gpu: f.count for f in fitting.fits_on(catalog.get("llama-3.1-70b"))}
    assert seventy["H100-80GB-SXM"] == 2
    assert seventy["L4"] == 8
    assert "T4" not in seventy


def test_the_table_is_worked_out_once_per_process(catalog: models.ModelCatalog) -> None:
    entry = catalog.get("qwen3-8b")
    assert fitting.fits_on(entry) is fitting.fits_on(entry)
    assert views.catalog_row(entry)["fits_on"] == [f.row() for f in fitting.fits_on(entry)]


# --- the search -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rows(catalog: models.ModelCatalog) -> list[dict[str, Any]]:
    return [views.catalog_row(e) for e in catalog.all()]


def test_task_and_licence_keep_exact_matches(rows: list[dict[str, Any]]) -> None:
    allowed = views.choices(rows)
    assert allowed["task"] == ["multimodal", "text-generation"]
    assert "apache-2.0" in allowed["license"]
    assert "gemma" in allowed["license"]
    multimodal = views.matching(rows, task="multimodal")
    assert multimodal
    assert all(r["task"] == "multimodal" for r in multimodal)
    assert len(multimodal) == sum(r["task"] == "multimodal" for r in rows)
    gemma = views.matching(rows, license="gemma", task="multimodal", q="gemma-3")
    assert gemma
    assert {r["license"] for r in gemma} == {"gemma"}
    assert all("gemma-3" in r["id"].lower() for r in gemma)
    assert views.matching(rows, license="llama2", task="multimodal") == []


@pytest.mark.parametrize(
    ("given", "field"),
    [({"task": "text2image"}, "task"), ({"license": "Apache-2.0"}, "license")],
)
def test_a_value_the_catalog_does_not_hold_names_the_field_and_the_choices(
    rows: list[dict[str, Any]], given: dict[str, str], field: str
) -> None:
    with pytest.raises(SpecError) as caught:
        views.matching(rows, **given)
    (problem,) = caught.value.problems
    assert problem.field == field
    assert problem.value == given[field]
    for value in views.choices(rows)[field]:
        assert value in problem.message


def test_both_bad_values_are_said_at_once(rows: list[dict[str, Any]]) -> None:
    with pytest.raises(SpecError) as caught:
        views.matching(rows, task="x", license="y")
    assert [p.field for p in caught.value.problems] == ["task", "license"]


SANDBOX_LIKE = (fitting.Pool("l4", "L4", 1), fitting.Pool("h100", "H100-80GB-SXM", 8))


@pytest.mark.parametrize(
    ("name", "fits"),
    [
        ("qwen3-8b", True),  # L4 ×1
        ("llama-3.1-70b", True),  # H100 ×2, not L4 ×1
        ("qwen3-235b-a22b", True),  # H100 ×8 exactly
        ("llama-3.1-405b", False),  # H200 ×8 at least
        ("deepseek-r1", False),
    ],
)
def test_the_cluster_filter_keeps_models_a_pool_node_holds(
    rows: list[dict[str, Any]], catalog: models.ModelCatalog, name: str, fits: bool
) -> None:
    entry = catalog.get(name)
    kept = {r["id"] for r in views.matching(rows, pools=SANDBOX_LIKE)}
    assert (entry.id in kept) is fits


def test_a_pool_with_too_few_gpus_per_node_does_not_hold_the_model(
    rows: list[dict[str, Any]],
) -> None:
    seventy = "meta-llama/Llama-3.1-70B-Instruct"
    one_h100 = [fitting.Pool("small", "H100-80GB-SXM", 1)]
    two_h100 = [fitting.Pool("pair", "H100-80GB-SXM", 2)]
    assert seventy not in {r["id"] for r in views.matching(rows, pools=one_h100)}
    assert seventy in {r["id"] for r in views.matching(rows, pools=two_h100)}
    assert views.matching(rows, pools=[]) == []  # no pools: nothing fits


def test_pools_of_resolves_gpu_names_and_skips_unknown_ones() -> None:
    facts = ClusterFacts(
        node_pools=(
            NodePool(name="a", gpu="H100", gpus_per_node=8, nodes=1),
            NodePool(name="b", gpu="nvidia-l4", gpus_per_node=1, nodes=2),
            NodePool(name="c", gpu="Mystery-9000", gpus_per_node=4, nodes=1),
            NodePool(name="cpu", nodes=3),
        )
    )
    assert fitting.pools_of(facts) == (
        fitting.Pool("a", "H100-80GB-SXM", 8),
        fitting.Pool("b", "L4", 1),
    )


# --- the pools' cache ----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_pools_are_kept_a_while_per_connection() -> None:
    clock, calls = Clock(), []
    cache = fitting.PoolCache(clock=clock)
    facts = ClusterFacts(node_pools=(NodePool(name="a", gpu="L4", gpus_per_node=1, nodes=1),))

    def discover() -> ClusterFacts:
        calls.append(clock.now)
        return facts

    conn, other = object(), object()
    assert cache.pools(conn, discover) == (fitting.Pool("a", "L4", 1),)
    clock.now += fitting.POOLS_TTL_S - 1
    cache.pools(conn, discover)
    assert len(calls) == 1
    clock.now += 2
    cache.pools(conn, discover)
    assert len(calls) == 2  # expired
    cache.pools(other, discover)
    assert len(calls) == 3  # another connection (the server switched clusters)


def test_a_failed_discovery_is_raised_again_and_retried_soon() -> None:
    clock, calls = Clock(), []
    cache = fitting.PoolCache(clock=clock)

    def down() -> ClusterFacts:
        calls.append(clock.now)
        raise RetryableError("The cluster did not answer.", delay_s=5)

    conn = object()
    for _ in range(2):
        with pytest.raises(RetryableError, match="did not answer"):
            cache.pools(conn, down)
    assert len(calls) == 1
    clock.now += fitting.FAILED_TTL_S + 0.1
    with pytest.raises(RetryableError):
        cache.pools(conn, down)
    assert len(calls) == 2
