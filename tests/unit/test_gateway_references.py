"""Which Gateways rendered objects attach to (``deploy/gateways.references``), read from real
renders: llm-d's HTTPRoute, an InferenceService exposed by HTTPRoute, and KServe's
LLMInferenceService with its managed route on KServe's default Gateway or on one named."""

from __future__ import annotations

import pytest

from kubefoundry.catalog import models
from kubefoundry.core.spec import DeploymentSpec
from kubefoundry.deploy import gateways, rendering
from kubefoundry.runtimes import base


def _manifests(**fields: object) -> list[dict[str, object]]:
    request = DeploymentSpec.model_validate({"model": "qwen2.5-7b", "gpu": "L4", **fields})
    entry = models.ModelCatalog.load().get(request.model)
    options = base.Options.from_spec(request)
    return rendering.render(request, entry, options=options, facts=None).rendered.manifests


def _seen(**fields: object) -> list[tuple[str, str, bool]]:
    found = gateways.references(
        _manifests(**fields), "team-a", kserve_default=lambda: ("gw", "kdef")
    )
    return [(r.by.split()[0], r.gateway, r.kserve_default) for r in found]


def test_llmd_routes_through_the_named_gateway_in_its_own_namespace() -> None:
    assert _seen(runtime="llmd") == [("HTTPRoute", "team-a/inference-gateway", False)]


def test_a_gateway_in_another_namespace_is_named_namespace_slash_name() -> None:
    seen = _seen(runtime="llmd", serving={"gateway": "gateway-system/shared"})
    assert seen == [("HTTPRoute", "gateway-system/shared", False)]


def test_an_inference_service_without_a_route_needs_no_gateway() -> None:
    assert _seen(runtime="kserve") == []
    exposed = _seen(runtime="kserve", serving={"exposure": "httproute", "gateway": "edge"})
    assert exposed == [("HTTPRoute", "team-a/edge", False)]


def test_an_llm_inference_service_uses_kserves_default_gateway_unless_one_is_named() -> None:
    llm = {"llm_inference_service": True}
    assert _seen(runtime="kserve", serving=llm) == [("LLMInferenceService", "gw/kdef", True)]
    named = {**llm, "exposure": "httproute", "gateway": "gateway-system/shared"}
    assert _seen(runtime="kserve", serving=named) == [
        ("LLMInferenceService", "gateway-system/shared", False)
    ]


@pytest.mark.parametrize("bad", ["Edge", "a/b/c", "/edge", "edge/", "under_score"])
def test_a_gateway_that_is_no_name_is_refused_in_the_spec(bad: str) -> None:
    with pytest.raises(ValueError, match="NAMESPACE/NAME"):
        DeploymentSpec.model_validate({"model": "qwen2.5-7b", "serving": {"gateway": bad}})


def _gateway(*listeners: dict[str, object]) -> dict[str, object]:
    return {"spec": {"listeners": list(listeners)}}


def test_a_gateway_takes_other_namespaces_routes_only_where_a_listener_says_so() -> None:
    plain = {"name": "http", "port": 80, "protocol": "HTTP"}
    assert not gateways.takes_other_namespaces(_gateway(plain))  # the default: Same
    same = {**plain, "allowedRoutes": {"namespaces": {"from": "Same"}}}
    assert not gateways.takes_other_namespaces(_gateway(same))
    every = {**plain, "name": "all", "allowedRoutes": {"namespaces": {"from": "All"}}}
    assert gateways.takes_other_namespaces(_gateway(same, every))
    chosen = {**plain, "allowedRoutes": {"namespaces": {"from": "Selector"}}}
    assert gateways.takes_other_namespaces(_gateway(chosen))  # not judged: labels decide
    assert not gateways.takes_other_namespaces({"spec": {}})
