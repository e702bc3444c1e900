"""Explanations agree with what was rendered (issue 8).

Each sample goes the way ``kubefoundry render`` goes (plan → choose → render). Then:

- every claim a decision or warning makes is in its text, and the field it names in the
  rendered objects holds the same value (replica counts, ratios, bounds, GPUs, keys);
- the token the render used is the one the objects reference (secretKeyRef, ExternalSecret,
  KAITO's modelAccessSecret, KServe's ServiceAccount), at the key the consumer reads, and
  the one token line the user sees is worded from it;
- no two lines of one render contradict: one key per Secret, one value per field, no
  ``kubectl create`` for a token that comes from a secret store.

``problems`` returns what disagrees instead of asserting, so the tests at the bottom can
show that a changed object or a hand-written claim is caught.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.support import rendering

from kubefoundry.planning.plans import Decision, Plan
from kubefoundry.runtimes import base, choosing, registry
from kubefoundry.runtimes.common import claims, splitting, tokens
from kubefoundry.runtimes.common.claims import At, Claim, Pick

RUNTIMES = registry.default()
EXTERNAL = base.TokenOptions(source="external-secret")
# The key the consumer itself reads, where the runtime does not pick it (kaito: the Workspace
# controller's env HF_TOKEN from modelAccessSecret; kserve's storage initializer: HF_TOKEN
# from the ServiceAccount's Secrets). Everywhere else the pods' secretKeyRef names the key.
CONSUMER_KEY = {"kaito": "HF_TOKEN", "kserve-llm": "HF_TOKEN"}


@dataclasses.dataclass(frozen=True)
class Sample:
    model: str
    runtime: str
    options: base.Options = dataclasses.field(default_factory=base.Options)
    pins: tuple[tuple[str, Any], ...] = ()
    patch: Callable[[Plan], Plan] | None = None  # a plan no catalog pin gives (gating unknown)


def _pins(**pins: Any) -> tuple[tuple[str, Any], ...]:
    return tuple(pins.items())


def _unknown_gating(plan: Plan) -> Plan:
    return dataclasses.replace(plan, gated=None)


def _single(plan: Plan) -> Plan:
    """One replica and no autoscaling (a KAITO Workspace, no ScaledObject)."""
    fixed = dataclasses.replace(plan.autoscaling, min_replicas=1, max_replicas=1)
    return dataclasses.replace(plan, replicas=1, autoscaling=fixed)


def _no_prefix_caching(plan: Plan) -> Plan:
    return dataclasses.replace(plan, prefix_caching=False)


SAMPLES = {
    # vllm: autoscaling (better), fixed (one replica), external secret
    "vllm": Sample("llama-3.1-8b", "vllm"),
    "vllm-fixed": Sample("qwen2.5-7b", "vllm", patch=_single),
    "vllm-scale-to-zero-tier": Sample("qwen2.5-7b", "vllm", pins=_pins(tier="good")),
    "vllm-external-secret": Sample("llama-3.1-8b", "vllm", base.Options(token=EXTERNAL)),
    # lws: multi-node (Ray, native), one node per replica
    "lws-multi-node-ray": Sample("llama-3.1-405b", "lws", pins=_pins(gpu="H100")),
    "lws-multi-node-native": Sample(
        "llama-3.1-405b", "lws", base.Options(multi_node="native"), _pins(gpu="H100")
    ),
    "lws-single": Sample("llama-3.1-8b", "lws"),
    # kserve: InferenceService on NVIDIA, Xeon and Gaudi 3; LLMInferenceService, split or not
    "kserve": Sample("llama-3.1-8b", "kserve", base.Options(token=EXTERNAL)),
    "kserve-fixed": Sample("qwen2.5-7b", "kserve", patch=_single),
    "kserve-xeon": Sample("qwen2.5-7b", "kserve", base.Options(platform="xeon")),
    "kserve-gaudi3": Sample("qwen2.5-7b", "kserve", base.Options(platform="gaudi3")),
    "kserve-llm": Sample("llama-3.1-8b", "kserve", base.Options(llm_inference_service=True)),
    "kserve-llm-external-secret": Sample(
        "llama-3.1-8b", "kserve", base.Options(llm_inference_service=True, token=EXTERNAL)
    ),
    "kserve-llm-rag": Sample(
        "qwen2.5-7b", "kserve", base.Options(disaggregated=True, workload="rag")
    ),
    "kserve-llm-rag-odd": Sample(
        "qwen2.5-7b", "kserve", base.Options(disaggregated=True, workload="rag"), _pins(replicas=3)
    ),
    # llmd: one pool, split for RAG (even and odd), split for chat, no prefix caching
    "llmd": Sample("llama-3.1-8b", "llmd", base.Options(exposure="httproute")),
    "llmd-rag": Sample("qwen2.5-7b", "llmd", base.Options(disaggregated=True, workload="rag")),
    "llmd-rag-odd": Sample(
        "qwen2.5-7b", "llmd", base.Options(disaggregated=True, workload="rag"), _pins(replicas=3)
    ),
    "llmd-chat-split": Sample(
        "qwen2.5-7b", "llmd", base.Options(disaggregated=True), _pins(replicas=3)
    ),
    "llmd-no-prefix-caching": Sample(
        "llama-3.1-8b", "llmd", base.Options(token=EXTERNAL), patch=_no_prefix_caching
    ),
    # kuberay: autoscaling, multi-node, scale to zero
    "kuberay": Sample("qwen2.5-7b", "kuberay"),
    "kuberay-multi-node": Sample("llama-3.1-405b", "kuberay", pins=_pins(gpu="H100")),
    "kuberay-scale-to-zero": Sample("qwen2.5-7b", "kuberay", pins=_pins(tier="good")),
    # dynamo: aggregated, the issue's 1:1 RAG split, an odd RAG split, chat, multi-node
    "dynamo": Sample("qwen3-8b", "dynamo"),
    "dynamo-rag": Sample("qwen3-8b", "dynamo", base.Options(disaggregated=True, workload="rag")),
    "dynamo-rag-odd": Sample(
        "qwen3-8b", "dynamo", base.Options(disaggregated=True, workload="rag"), _pins(replicas=3)
    ),
    "dynamo-chat-split-one-replica": Sample(
        "qwen3-8b", "dynamo", base.Options(disaggregated=True), _pins(replicas=1)
    ),
    "dynamo-multi-node": Sample(
        "llama-3.1-405b", "dynamo", base.Options(token=EXTERNAL), _pins(gpu="H100")
    ),
    "dynamo-batch": Sample("qwen3-8b", "dynamo", base.Options(workload="batch")),
    # kaito: Workspace on Azure, InferenceSet that scales on existing nodes, external secret,
    # a model whose gating is unknown
    "kaito-workspace": Sample(
        "llama-3.1-8b", "kaito", pins=_pins(cloud="azure", gpu="H100-NVL-94GB"), patch=_single
    ),
    "kaito-inference-set": Sample("llama-3.1-8b", "kaito"),
    "kaito-external-secret": Sample(
        "llama-3.1-8b",
        "kaito",
        base.Options(token=EXTERNAL),
        _pins(cloud="azure", gpu="H100-NVL-94GB"),
    ),
    "kaito-unknown-gating": Sample(
        "qwen3-8b",
        "kaito",
        base.Options(token=EXTERNAL),
        _pins(cloud="azure", gpu="H100-NVL-94GB"),
        _unknown_gating,
    ),
    # tgi: the seed's chart, with the token from a plain Secret and from a secret store
    "tgi": Sample("llama-3.1-8b", "tgi", base.Options(exposure="httproute")),
    "tgi-external-secret": Sample("llama-3.1-8b", "tgi", base.Options(token=EXTERNAL)),
    "tgi-named-secret": Sample("llama-3.1-8b", "tgi", pins=_pins(hf_token_secret="my-hf")),
}


@dataclasses.dataclass(frozen=True)
class Served:
    plan: Plan  # as chosen: with the runtime's token line
    rendered: base.Rendered
    options: base.Options

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the user reads: the plan's warnings, then the render's (``explain_render``)."""
        return (*self.plan.warnings, *self.rendered.warnings)


def serve(sample: Sample) -> Served:
    plan = rendering.plan(sample.model, runtime=sample.runtime, **dict(sample.pins))
    if sample.patch:
        plan = sample.patch(plan)
    runtime, chosen = choosing.choose(plan, sample.options, registry=RUNTIMES)
    return Served(chosen, runtime.render(chosen, sample.options), sample.options)


# --- what must agree ------------------------------------------------------------------------


def claim_problems(out: base.Rendered) -> list[str]:
    """Each claim is in its line's text, and its field holds its value."""
    problems = []
    for said in out.said:
        for claim in said.claims:
            if str(claim) not in said.text:
                problems.append(f"{claim!s} is not in: {said.text}")
            try:
                found = claims.find(out.manifests, claim.at)
            except KeyError as exc:
                problems.append(f"{claim!s}: {exc.args[0]}")
                continue
            if not claims.agrees(found, claim.value):
                problems.append(f"{said.text!r} says {claim}, but {claim.at} is {found!r}")
    return problems


def one_value_per_field(out: base.Rendered) -> list[str]:
    """No two lines state different values for one field."""
    seen: dict[At, tuple[Claim, str]] = {}
    problems = []
    for said in out.said:
        for claim in said.claims:
            first = seen.setdefault(claim.at, (claim, said.text))
            if not claims.agrees(first[0].value, claim.value):
                problems.append(f"{claim.at}: {first[0]} in {first[1]!r}, {claim} in {said.text!r}")
    return problems


def split_problems(out: base.Rendered) -> list[str]:
    """ "The larger share" only where that pool has more replicas than the other."""
    problems = []
    for said in out.said:
        counts = {
            c.words.split()[-1]: int(c.value)
            for c in said.claims
            if c.words in ("{} decode", "{} prefill")
        }
        if len(counts) < 2:
            continue
        for pool, other in (("prefill", "decode"), ("decode", "prefill")):
            if f"{pool} gets the larger share" in said.text and counts[pool] <= counts[other]:
                problems.append(f"{said.text!r} but {counts[pool]} {pool} : {counts[other]}")
    return problems


def _refs(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "secretKeyRef" in node:
            yield node["secretKeyRef"]
        for v in node.values():
            yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def token_problems(served: Served, *, consumer: str) -> list[str]:
    """The objects reference ``Rendered.token`` and nothing else for the token, at the key its
    consumer reads; the token line is the one worded from it."""
    out, token = served.rendered, served.rendered.token
    manifests = out.manifests
    problems = []
    refs = [r for m in manifests for r in _refs(m) if r["name"] == (token.secret if token else "")]
    externals = rendering.find(manifests, "ExternalSecret")
    if token is None:
        return [f"token objects without a token: {externals}"] if externals else []
    problems += [
        f"secretKeyRef {r} is not key {token.key!r}" for r in refs if r["key"] != token.key
    ]
    if consumer in CONSUMER_KEY and token.key != CONSUMER_KEY[consumer]:
        problems.append(f"{consumer} reads key {CONSUMER_KEY[consumer]}, not {token.key}")
    written = [
        d["secretKey"]
        for e in externals
        if e["spec"]["target"]["name"] == token.secret
        for d in e["spec"]["data"]
    ]
    wants_external = token.source == "external-secret" and not token.optional
    if wants_external != bool(written) or any(k != token.key for k in written):
        problems.append(f"ExternalSecret keys {written} for {token}")
    if not (refs or _named_elsewhere(manifests, token.secret)):
        problems.append(f"no object references Secret {token.secret}")
    line = tokens.warning(served.plan, token)
    about = [w for w in served.warnings if token.secret in w]
    if about != ([line] if line else []):
        problems.append(f"token lines {about} are not the one worded from {token}: {line!r}")
    return problems


def _named_elsewhere(manifests: tuple[base.Manifest, ...], secret: str) -> bool:
    """KAITO's modelAccessSecret, KServe's ServiceAccount: the Secret by name only."""
    return any(v == secret for m in manifests for v in rendering.walk(m))


_KEY_WORDS = (
    re.compile(r'key "([^"]+)"'),
    re.compile(r"\(key: ([^)\s]+)\)"),
    re.compile(r"key ([A-Za-z_][\w.-]*) of Secret"),
    re.compile(r"--from-file=([^=\s]+)="),
)


def contradictions(served: Served) -> list[str]:
    """What two lines of one render say differently: the token Secret's key, one field's
    value, and how the token gets there."""
    problems = one_value_per_field(served.rendered)
    token = served.rendered.token
    if token is None:
        return problems
    for warning in served.warnings:
        if token.secret not in warning:
            continue
        keys = {k for pattern in _KEY_WORDS for k in pattern.findall(warning)}
        if keys - {token.key}:
            problems.append(f"{warning!r} names key(s) {sorted(keys)}, the objects {token.key}")
        if token.source == "external-secret" and "kubectl" in warning:
            problems.append(f"{warning!r}: the token comes from {token.options.store}")
    return problems


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_explanations_state_what_the_objects_hold(name: str) -> None:
    served = serve(SAMPLES[name])
    out = served.rendered
    assert out.runtime == SAMPLES[name].runtime
    # Every line the user reads is kept with its claims.
    assert tuple(s.what for s in out.said if isinstance(s.what, Decision)) == out.decisions
    assert tuple(s.what for s in out.said if isinstance(s.what, str)) == out.warnings
    assert claim_problems(out) == []
    assert split_problems(out) == []
    consumer = "kserve-llm" if name.startswith("kserve-llm") else out.runtime
    assert token_problems(served, consumer=consumer) == []


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_no_two_lines_of_one_render_contradict(name: str) -> None:
    assert contradictions(serve(SAMPLES[name])) == []


def test_every_runtime_and_its_variants_are_sampled() -> None:
    runtimes = {s.runtime for s in SAMPLES.values()}
    assert runtimes == set(RUNTIMES.names())
    served = {name: serve(s) for name, s in SAMPLES.items()}
    for runtime in runtimes:  # every runtime states values the objects are checked against
        assert sum(
            len(s.claims)
            for v in served.values()
            if v.rendered.runtime == runtime
            for s in v.rendered.said
        ), runtime
    tokens_from_stores = [v for v in served.values() if v.options.token.source != "secret"]
    assert {v.rendered.runtime for v in tokens_from_stores} >= {"vllm", "kaito", "tgi", "kserve"}
    assert any(
        v.plan.nodes_per_replica > 1 for v in served.values() if v.rendered.runtime == "dynamo"
    )
    splits = [v for v in served.values() if v.options.disaggregated]
    assert {v.rendered.runtime for v in splits} == {"dynamo", "llmd", "kserve"}


def _worker_counts(manifests: list[dict[str, Any]]) -> dict[str, int]:
    """Each component's count: its ``replicas``, or, for the one the scaling adapter owns
    (no ``replicas`` of ours), the floor its ScaledObject holds it at."""
    floors = [m["spec"]["minReplicaCount"] for m in manifests if m["kind"] == "ScaledObject"]
    out = {}
    for c in manifests[0]["spec"]["components"]:
        out[c["name"]] = c["replicas"] if "replicas" in c else floors[0]
    return out


def test_the_issues_dynamo_rag_split_says_what_it_renders() -> None:
    out = serve(SAMPLES["dynamo-rag"]).rendered
    (split,) = [s for s in out.said if getattr(s.what, "topic", "") == "disaggregation"]
    graph = _worker_counts(out.manifests)
    assert graph["VllmDecodeWorker"] == graph["VllmPrefillWorker"] == 1
    assert "larger share" not in split.text
    assert "1 decode : 1 prefill" in split.text
    odd = serve(SAMPLES["dynamo-rag-odd"]).rendered
    graph = _worker_counts(odd.manifests)
    assert (graph["VllmDecodeWorker"], graph["VllmPrefillWorker"]) == (1, 2)
    assert any("prefill gets the larger share" in s.text for s in odd.said)


def test_kaito_names_one_key_the_one_its_controller_reads() -> None:
    served = serve(SAMPLES["kaito-inference-set"])
    about = [w for w in served.warnings if "hf-token" in w]
    assert len(about) == 1
    assert 'key "HF_TOKEN"' in about[0]
    assert "--from-file=HF_TOKEN=PATH" in about[0]
    assert "(key: token)" not in " ".join(served.warnings)  # one line, from the runtime


def test_an_external_secret_token_is_explained_by_its_store_not_kubectl() -> None:
    served = serve(SAMPLES["tgi-external-secret"])
    (line,) = [w for w in served.warnings if "hf-token" in w]
    assert "kubectl" not in line
    assert f"ClusterSecretStore {EXTERNAL.store}" in line
    assert EXTERNAL.remote_key in line


@pytest.mark.parametrize(
    ("decode", "prefill", "workload", "larger"),
    [
        (1, 1, "rag", None),
        (1, 2, "rag", "prefill"),
        (2, 2, "rag", None),
        (2, 1, "chat", "decode"),
        (1, 1, "chat", None),
        (3, 2, "reasoning", "decode"),
        (2, 3, "agent", "prefill"),
    ],
)
def test_the_split_reason_says_larger_only_when_it_is(
    decode: int, prefill: int, workload: base.Workload, larger: str | None
) -> None:
    split = splitting.Split(
        decode=decode, prefill=prefill, planned=decode + prefill, workload=workload
    )
    reason = splitting.reason(split)
    assert ("larger share" in reason) == (larger is not None)
    if larger:
        assert f"{larger} gets the larger share" in reason
    else:
        assert f"{decode} decode : {prefill} prefill" in reason


@pytest.mark.parametrize(
    ("replicas", "workload"), [(1, "rag"), (2, "rag"), (3, "rag"), (4, "chat"), (5, "chat")]
)
def test_the_split_shares_out_the_plans_replicas(replicas: int, workload: base.Workload) -> None:
    plan = dataclasses.replace(rendering.plan("qwen3-8b"), replicas=replicas)
    split = splitting.split(plan, base.Options(disaggregated=True, workload=workload))
    assert split.total == max(replicas, 2)
    assert abs(split.decode - split.prefill) <= 1
    favoured = split.prefill if workload == "rag" else split.decode
    assert favoured >= split.total - favoured


# --- the checks can fail --------------------------------------------------------------------


def _edited(out: base.Rendered, edit: Callable[[list[base.Manifest]], None]) -> base.Rendered:
    manifests = copy.deepcopy(list(out.manifests))
    edit(manifests)
    return dataclasses.replace(out, manifests=tuple(manifests))


def test_an_object_that_disagrees_with_its_explanation_is_caught() -> None:
    out = serve(SAMPLES["dynamo-rag-odd"]).rendered

    def fewer_prefill(manifests: list[base.Manifest]) -> None:
        (graph,) = [m for m in manifests if m["kind"] == "DynamoGraphDeployment"]
        prefill = next(c for c in graph["spec"]["components"] if c["name"] == "VllmPrefillWorker")
        prefill["replicas"] = 1

    problems = claim_problems(_edited(out, fewer_prefill))
    assert any("VllmPrefillWorker" in p and "replicas" in p for p in problems), problems


def test_a_claim_missing_from_its_text_or_saying_larger_falsely_is_caught() -> None:
    out = serve(SAMPLES["dynamo-rag"]).rendered
    at = At(
        "DynamoGraphDeployment",
        out.manifests[0]["metadata"]["name"],
        ("spec", "components", Pick("name", "VllmPrefillWorker"), "replicas"),
    )
    wrong = claims.said(
        "RAG prompts are long, so prefill gets the larger share",
        Claim(1, at, "{} prefill"),
        Claim(
            1,
            dataclasses.replace(
                at, path=("spec", "components", Pick("name", "VllmDecodeWorker"), "replicas")
            ),
            "{} decode",
        ),
    )
    lied = dataclasses.replace(out, said=(*out.said, wrong))
    assert any("is not in" in p for p in claim_problems(lied))
    assert split_problems(lied)


def test_two_keys_for_one_secret_are_a_contradiction() -> None:
    served = serve(SAMPLES["kaito-inference-set"])
    token = served.rendered.token
    assert token is not None
    planner_line = f"{served.plan.model_id} is gated: Secret {token.secret} (key: token)"
    both = dataclasses.replace(
        served,
        plan=dataclasses.replace(served.plan, warnings=(*served.plan.warnings, planner_line)),
    )
    assert any("names key(s)" in p for p in contradictions(both))
    assert token_problems(both, consumer="kaito")


def test_a_secretkeyref_with_another_key_is_caught() -> None:
    served = serve(SAMPLES["vllm"])

    def other_key(manifests: list[base.Manifest]) -> None:
        for ref in _refs(manifests[0]):
            ref["key"] = "HF_TOKEN"

    edited = dataclasses.replace(served, rendered=_edited(served.rendered, other_key))
    assert any("is not key" in p for p in token_problems(edited, consumer="vllm"))
