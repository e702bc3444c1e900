"""The catalog's "fits my cluster" filter against the sandbox's real control plane (issue 10).

The sandbox registers fake GPU node pools (kwok nodes: L4 ×1 and H100 ×8 per node). The filter
must keep exactly the models one replica of which fits a node of one of the pools that
discovery reports, in the API and on the page, and drop the ones that need more (Llama 3.1
405B needs eight H200s at its bf16 precision).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.support import controlplane

from kubefoundry.api.app import create_app
from kubefoundry.catalog import models
from kubefoundry.cluster import connecting
from kubefoundry.cluster.connecting import Target
from kubefoundry.deploy import discovering, fitting

HUGE = "meta-llama/Llama-3.1-405B-Instruct"


@pytest.fixture(scope="module")
def web(control_plane: controlplane.ControlPlane) -> Iterator[TestClient]:
    with TestClient(create_app(cluster=Target(kubeconfig=control_plane.kubeconfig))) as client:
        yield client


@pytest.fixture(scope="module")
def pools(control_plane: controlplane.ControlPlane) -> tuple[fitting.Pool, ...]:
    conn = connecting.connect(Target(kubeconfig=control_plane.kubeconfig))
    try:
        facts, _ = discovering.discover(conn)
    finally:
        conn.close()
    return fitting.pools_of(facts)


def _expected(pools: tuple[fitting.Pool, ...]) -> set[str]:
    """The models a node of one of ``pools`` holds, by the table, worked out here."""
    return {
        e.id
        for e in models.ModelCatalog.load().all()
        if any(
            f.gpu == p.gpu and f.count <= p.gpus_per_node for f in fitting.fits_on(e) for p in pools
        )
    }


def test_the_sandbox_has_the_pools_the_filter_is_checked_on(
    pools: tuple[fitting.Pool, ...],
) -> None:
    shapes = {(p.gpu, p.gpus_per_node) for p in pools}
    assert ("L4", 1) in shapes
    assert ("H100-80GB-SXM", 8) in shapes


def test_fits_my_cluster_keeps_only_what_a_pool_node_holds(
    web: TestClient, pools: tuple[fitting.Pool, ...]
) -> None:
    every = {e.id for e in models.ModelCatalog.load().all()}
    expected = _expected(pools)
    assert HUGE not in expected  # H200 ×8 at least: not on an H100 ×8 node
    assert "Qwen/Qwen3-8B" in expected  # one L4
    assert "meta-llama/Llama-3.1-70B-Instruct" in expected  # two H100s, not one L4
    assert expected < every

    api = web.get("/api/v1/models", params={"fits_cluster": "true"})
    assert api.status_code == 200, api.text[:500]
    assert {r["id"] for r in api.json()} == expected
    for row in api.json():  # each kept row says which pool holds it
        assert any(
            f["gpu"] == p.gpu and f["count"] <= p.gpus_per_node
            for f in row["fits_on"]
            for p in pools
        )
    narrowed = web.get("/api/v1/models", params={"fits_cluster": "true", "task": "multimodal"})
    assert {r["id"] for r in narrowed.json()} == {
        r["id"] for r in api.json() if r["task"] == "multimodal"
    }

    page = web.get("/", params={"fits_cluster": "true"})
    assert page.status_code == 200, page.text[:500]
    listed = set(re.findall(r'<th scope="row"><a href="/models/([^"]+)">', page.text))
    assert listed == expected
    assert f"{len(expected)} of {len(every)} models" in page.text
    box = re.search(r'<input id="fits_cluster"[^>]*>', page.text)
    assert box
    assert " checked" in box.group(0)
    assert " disabled" not in box.group(0)
    for pool in pools:  # the page says which pools it compared with
        assert f"{pool.gpu} ×{pool.gpus_per_node} (pool {pool.name})" in page.text


def test_without_the_filter_every_model_is_listed_and_the_box_is_offered(
    web: TestClient,
) -> None:
    page = web.get("/")
    assert page.status_code == 200
    total = len(models.ModelCatalog.load().all())
    assert f"{total} of {total} models" in page.text
    assert f'href="/models/{HUGE}"' in page.text
    box = re.search(r'<input id="fits_cluster"[^>]*>', page.text)
    assert box
    assert " disabled" not in box.group(0)
    assert " checked" not in box.group(0)
