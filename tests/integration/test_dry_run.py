"""Every runtime's rendered objects pass the real API server's server-side dry-run apply.

The server runs the full admission chain on each object: the CRDs' structural schemas,
their CEL rules (``x-kubernetes-validations``), defaulting, built-in validation of core
kinds and strict field validation (an unknown field is an error, not a dropped field). That
is more than the JSON-schema check in ``checks/`` can see.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client, dynamic
from kubernetes.dynamic.exceptions import DynamicApiError
from tests.support import controlplane, rendering

from kubefoundry.core.errors import KubeFoundryError
from kubefoundry.planning.plans import Plan
from kubefoundry.runtimes import base, choosing, registry

RUNTIMES = registry.default()
HOST = "llm.example.com"


@dataclasses.dataclass(frozen=True)
class Scenario:
    plan: Callable[[], Plan]
    options: base.Options


SCENARIOS = {
    "qwen2.5-7b-better-httproute": Scenario(
        functools.partial(rendering.plan, "qwen2.5-7b", tier="better"),
        base.Options(exposure="httproute", host=HOST),
    ),
    "qwen2.5-7b-rag-disaggregated": Scenario(
        functools.partial(rendering.plan, "qwen2.5-7b", tier="better"),
        base.Options(disaggregated=True, workload="rag"),
    ),
    "qwen2.5-7b-llminferenceservice": Scenario(
        functools.partial(rendering.plan, "qwen2.5-7b", tier="better"),
        base.Options(llm_inference_service=True),
    ),
    "llama-3.1-8b-good-ingress-externalsecret": Scenario(
        functools.partial(rendering.plan, "llama-3.1-8b", tier="good"),
        base.Options(
            exposure="ingress",
            host=HOST,
            ingress_class="nginx",
            monitoring="podmonitor",
            token=base.TokenOptions(source="external-secret"),
        ),
    ),
    "llama-3.1-405b-h100-multinode": Scenario(
        functools.partial(rendering.plan, "llama-3.1-405b", gpu="H100"),
        base.Options(),
    ),
    "llama-3.1-405b-h100-multinode-native": Scenario(
        functools.partial(rendering.plan, "llama-3.1-405b", gpu="H100"),
        base.Options(multi_node="native"),
    ),
}


def _served(runtime: base.Runtime, scenario: Scenario) -> Plan:
    plan = dataclasses.replace(scenario.plan(), runtime=runtime.name)
    return choosing.adapt(plan, runtime)


def _cases() -> list[Any]:
    """Every runtime × scenario the runtime accepts (its refusals are unit-tested)."""
    return [
        pytest.param(runtime.name, name, id=f"{runtime.name}-{name}")
        for runtime in RUNTIMES.all()
        for name, scenario in SCENARIOS.items()
        if _accepts(runtime, scenario)
    ]


def _accepts(runtime: base.Runtime, scenario: Scenario) -> bool:
    served = _served(runtime, scenario)
    if base.refusal(runtime, served, scenario.options) is not None:
        return False
    try:  # some refusals come at render time (llmd: no Ingress to an InferencePool)
        runtime.render(served, scenario.options)
    except KubeFoundryError:
        return False
    return True


CASES = _cases()


def test_every_runtime_and_every_scenario_is_exercised() -> None:
    runtimes = {case.values[0] for case in CASES}
    scenarios = {case.values[1] for case in CASES}
    assert runtimes == set(RUNTIMES.names())
    assert scenarios == set(SCENARIOS)


@pytest.mark.parametrize(("runtime_name", "scenario_name"), CASES)
def test_rendered_objects_pass_server_side_dry_run(
    runtime_name: str, scenario_name: str, dynamic_client: dynamic.DynamicClient, namespace: str
) -> None:
    runtime = RUNTIMES.get(runtime_name)
    scenario = SCENARIOS[scenario_name]
    rendered = runtime.render(_served(runtime, scenario), scenario.options)
    rejected = [
        f"{m['kind']}/{m['metadata']['name']} ({m['apiVersion']}): {problem}"
        for m in rendered.manifests
        if (problem := _dry_run_apply(dynamic_client, m, namespace=namespace))
    ]
    assert rejected == [], "the API server rejected:\n" + "\n".join(rejected)


def _dry_run_apply(
    dyn: dynamic.DynamicClient, manifest: dict[str, Any], *, namespace: str
) -> str | None:
    """The server's message when it refuses ``manifest`` on a dry-run apply, else None."""
    resource = dyn.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
    try:
        dyn.server_side_apply(
            resource,
            body=manifest,
            namespace=namespace if resource.namespaced else None,
            field_manager="kubefoundry",
            dry_run="All",
            query_params=[("fieldValidation", "Strict")],
        )
    except DynamicApiError as exc:
        try:
            return str(json.loads(exc.body)["message"])
        except (TypeError, ValueError, KeyError):
            return str(exc)
    return None


def test_the_server_rejects_unknown_fields_and_broken_cel_rules(
    dynamic_client: dynamic.DynamicClient, namespace: str
) -> None:
    """The check above can fail: an unknown field (strict validation) and a path the
    HTTPRoute CRD's CEL rule forbids are both refused, with the server's reason."""
    runtime = RUNTIMES.get("vllm")
    scenario = SCENARIOS["qwen2.5-7b-better-httproute"]
    manifests = runtime.render(_served(runtime, scenario), scenario.options).manifests
    deployment = copy.deepcopy(rendering.find(manifests, "Deployment")[0])
    deployment["spec"]["replicaz"] = 2
    route = copy.deepcopy(rendering.find(manifests, "HTTPRoute")[0])
    route["spec"]["rules"][0]["matches"] = [{"path": {"type": "PathPrefix", "value": "v1"}}]
    unknown = _dry_run_apply(dynamic_client, deployment, namespace=namespace)
    cel = _dry_run_apply(dynamic_client, route, namespace=namespace)
    assert ".spec.replicaz: field not declared in schema" in str(unknown)
    assert "must be an absolute path" in str(cel)


def test_the_api_server_reports_the_pinned_kubernetes_version(
    api_client: client.ApiClient,
) -> None:
    gomod = (controlplane.REPO / "hack" / "testcluster" / "go.mod").read_text()
    pinned = re.search(r"^\s*k8s\.io/kubernetes (v\S+)$", gomod, re.MULTILINE)
    assert pinned is not None
    assert client.VersionApi(api_client).get_code().git_version == pinned.group(1)
