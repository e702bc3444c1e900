"""Every catalog model × runtime × tier the planner accepts: rendered and valid against the
real schemas, or refused with a reason. Nothing is rendered wrong."""

from __future__ import annotations

import dataclasses

import pytest
from tests.support import rendering

from kubefoundry.core.errors import KubeFoundryError
from kubefoundry.runtimes import base, choosing, registry

RUNTIMES = registry.default()
VARIANTS = {
    "default": base.Options(exposure="httproute", host="llm.example.com"),
    "disaggregated": base.Options(disaggregated=True, workload="rag"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("runtime_name", RUNTIMES.names())
def test_every_plan_renders_valid_or_is_refused(runtime_name: str, variant: str) -> None:
    runtime = RUNTIMES.get(runtime_name)
    options = VARIANTS[variant]
    rendered = refused = 0
    problems: list[str] = []
    for model, tier, plan in rendering.catalog_plans():
        reason = base.refusal(runtime, plan, options)
        if reason:
            assert runtime_name in reason
            refused += 1
            continue
        try:
            served = choosing.adapt(dataclasses.replace(plan, runtime=runtime_name), runtime)
            out = runtime.render(served, options)
        except KubeFoundryError as exc:  # refused at render time: must say why and how to fix
            if not exc.hint:
                problems.append(f"{model}/{tier}: refusal without a fix: {exc.message}")
            refused += 1
            continue
        rendered += 1
        assert out.manifests
        problems += [f"{model}/{tier}: {p}" for p in rendering.schema_problems(out.manifests)]
    assert problems == []
    if _needed(variant) not in runtime.limits:
        assert rendered > 0, f"{runtime_name} rendered nothing for {variant}"
    print(f"{runtime_name}/{variant}: {rendered} rendered, {refused} refused")


def _needed(variant: str) -> base.Feature | None:
    return base.Feature.DISAGGREGATED if variant == "disaggregated" else None


def test_the_canary_token_never_reaches_a_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", rendering.CANARY)
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", rendering.CANARY)
    plan = rendering.plan("llama-3.1-8b", hf_token_secret="my-hf-token")
    for runtime in RUNTIMES.all():
        for options in (
            base.Options(),
            base.Options(token=base.TokenOptions(source="external-secret")),
        ):
            if base.refusal(runtime, plan, options):
                continue
            text = rendering.dump(runtime.render(plan, options).manifests)
            assert rendering.CANARY not in text
            assert "my-hf-token" in text, f"{runtime.name} does not wire the token Secret"


def test_a_pinned_runtime_that_cannot_serve_the_plan_is_refused_with_alternatives() -> None:
    plan = dataclasses.replace(rendering.plan("llama-3.1-405b", gpu="H100"), runtime="vllm")
    with pytest.raises(KubeFoundryError, match="vllm cannot serve") as err:
        choosing.choose(plan, base.Options(), registry=RUNTIMES)
    assert err.value.hint


def test_the_chosen_runtime_is_explained_with_every_alternative() -> None:
    plan = rendering.plan("llama-3.1-405b", gpu="H100")
    runtime, chosen = choosing.choose(plan, base.Options(), registry=RUNTIMES)
    decision = chosen.decisions[-1]
    assert decision.topic == "runtime"
    assert decision.choice == runtime.name != "vllm"
    assert {a.option for a in decision.alternatives} == set(RUNTIMES.names()) - {runtime.name}
    vllm_alt = next(a for a in decision.alternatives if a.option == "vllm")
    assert "multi-node" in vllm_alt.why_not


def test_cluster_facts_rule_out_runtimes_that_are_not_installed() -> None:
    from kubefoundry.core.facts import ClusterFacts

    plan = rendering.plan("qwen2.5-7b")
    facts = ClusterFacts(installed_runtimes={})
    options = base.Options(disaggregated=True)
    with pytest.raises(KubeFoundryError, match="not installed"):
        choosing.choose(plan, options, registry=RUNTIMES, facts=facts)


def test_unknown_runtime_names_suggest_close_matches() -> None:
    with pytest.raises(KubeFoundryError, match="Did you mean: kserve"):
        RUNTIMES.get("kserv")


def _values(obj: object, key: str) -> list[object]:
    """Every value of ``key`` anywhere in ``obj``."""
    if isinstance(obj, dict):
        return [v for k, v in obj.items() if k == key] + [
            found for v in obj.values() for found in _values(v, key)
        ]
    if isinstance(obj, list):
        return [found for v in obj for found in _values(v, key)]
    return []


@pytest.mark.parametrize("runtime_name", RUNTIMES.names())
def test_each_keda_scaler_queries_the_specs_prometheus(runtime_name: str) -> None:
    """``serving.prometheus`` reaches every Prometheus address a runtime renders (our
    ScaledObjects, KServe's external metric), and no default is left behind; each query
    counts only the deployment's namespace (two namespaces may serve one model)."""
    runtime = RUNTIMES.get(runtime_name)
    url = "http://prometheus.observability.svc:9090"
    options = base.Options(prometheus=url)
    addresses: list[object] = []
    queries: list[object] = []
    for model in ("qwen2.5-7b", "llama-3.1-70b"):
        plan = rendering.plan(model, runtime=runtime_name, namespace="ml")
        if base.refusal(runtime, plan, options):
            continue
        served = choosing.adapt(plan, runtime)
        out = runtime.render(served, options)
        addresses += _values(list(out.manifests), "serverAddress")
        queries += _values(list(out.manifests), "query")
    if runtime_name in ("kaito", "kuberay"):  # scaled by their own scalers, not KEDA
        assert addresses == []
    else:
        assert set(addresses) == {url}, addresses
        assert queries, "no KEDA query rendered"
        assert all('namespace="ml"' in str(q) for q in queries), queries
