"""``delete`` and ``ls`` find objects by the kinds in deploy.deploying, gathered from what each
runtime declares (``cluster_side``): every kind a runtime renders must be declared by it (and
so listed there), and every root among its declared roots."""

from __future__ import annotations

import pytest
from tests.support import rendering

from kubefoundry.core.errors import KubeFoundryError
from kubefoundry.deploy import deploying
from kubefoundry.runtimes import base, choosing, registry

VARIANTS = [
    base.Options(exposure="httproute", token=base.TokenOptions(source="external-secret")),
    base.Options(exposure="ingress", monitoring="podmonitor", disaggregated=True),
    base.Options(exposure="apisix", llm_inference_service=True),
]
PLANS = [
    ("qwen2.5-7b", {"hf_token_secret": "hf"}),
    ("llama-3.1-405b", {"gpu": "H100"}),
    ("llama-3.1-8b", {"cloud": "azure"}),
]


@pytest.mark.parametrize("runtime", registry.default().names())
def test_every_rendered_kind_and_root_is_known_to_deploy(runtime: str) -> None:
    r = registry.default().get(runtime)
    side = r.cluster_side
    seen = 0
    for model, pins in PLANS:
        plan = rendering.plan(model, **pins)
        for options in VARIANTS:
            if base.refusal(r, plan, options):
                continue
            try:
                out = r.render(choosing.adapt(plan, r), options)
            except KubeFoundryError:
                continue  # refused with a reason (tested per runtime)
            seen += 1
            roots = [
                m
                for m in out.manifests
                if m["metadata"].get("annotations", {}).get("kubefoundry.io/root")
            ]
            assert len(roots) == 1
            assert (roots[0]["apiVersion"], roots[0]["kind"]) in deploying.ROOT_KINDS
            assert (roots[0]["apiVersion"], roots[0]["kind"]) in {k.kind.ref for k in side.roots}
            for m in out.manifests:
                assert (m["apiVersion"], m["kind"]) in deploying.KINDS, m["kind"]
                assert (m["apiVersion"], m["kind"]) in {k.ref for k in side.renders}, m["kind"]
    assert seen
