"""TGI on GKE's H100 pool (issue 11): it lands now, and the old selector's fix says how.

TGI used to add the GPU Operator's ``nvidia.com/gpu.present`` to its node selector; GKE's GPU
nodes do not carry it, so ``selector-matches-no-node`` rejected the render, with a fix that
listed labels but did not say what to change.
"""

from __future__ import annotations

from tests.support import rendering
from tests.unit.checks.support import run

from kubefoundry.catalog import gpus, instances
from kubefoundry.checks.rules import placement
from kubefoundry.deploy import discovering
from kubefoundry.runtimes import tgi
from kubefoundry.sandbox import pools

GPUS, INSTANCES = gpus.load(), instances.load()
GKE_H100 = pools.Pool("h100", "H100", 8, 2, "gke", instance_type="a3-highgpu-8g")


def _gke() -> object:
    nodes = pools.all_nodes((GKE_H100,), gpus=GPUS, instances=INSTANCES)
    return discovering.facts_from(nodes=nodes, gpus=GPUS, instances=INSTANCES)


def test_tgi_lands_on_gkes_h100_pool_and_the_old_selector_is_told_what_to_remove() -> None:
    facts = _gke()
    plan = rendering.plan("llama-3.1-8b", facts=facts)  # type: ignore[arg-type]
    manifests = tgi.TgiRuntime().render(plan, tgi.DEFAULT_OPTIONS).manifests
    found = [f for f in run(manifests, facts=facts) if f.rule == placement.SELECTOR_MATCHES_NO_NODE]  # type: ignore[arg-type]
    assert found == []
    (deployment,) = rendering.find(manifests, "Deployment")
    deployment["spec"]["template"]["spec"]["nodeSelector"]["nvidia.com/gpu.present"] = "true"
    (finding,) = [
        f
        for f in run(manifests, facts=facts)
        if f.rule == placement.SELECTOR_MATCHES_NO_NODE  # type: ignore[arg-type]
    ]
    assert finding.fix.startswith("Remove nvidia.com/gpu.present from the node selector")
    assert "cloud.google.com/gke-accelerator" not in finding.fix.split(":")[0]
