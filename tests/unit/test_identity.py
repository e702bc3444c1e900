"""Identity keys in one place: the plan summary round-trips, a bad one reads as nothing,
and no module spells a ``kubefoundry.io/`` key of its own."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from tests.support import rendering

import kubefoundry
from kubefoundry.core import identity
from kubefoundry.core.identity import PlanSummary
from kubefoundry.runtimes.common import labels

FULL = PlanSummary(
    model="meta-llama/Llama-3.1-8B-Instruct",
    tier="better",
    gpu="2xL4",
    tensor_parallel=2,
    pipeline_parallel=1,
    nodes_per_replica=1,
    replicas=2,
    max_model_len=32768,
    kv_tokens=156960,
    engine="vllm 0.34.0",
    usd_per_hour=4.0,
    output_tokens_per_s=406.4,
    input_tokens_per_s=1625.4,
    prefill_share=0.195,
)
# As tests/golden/vllm renders it: the writer's bytes must not change.
FULL_TEXT = (
    '{"engine":"vllm 0.34.0","gpu":"2xL4","inputTokensPerS":1625.4,"kvTokens":156960,'
    '"maxModelLen":32768,"model":"meta-llama/Llama-3.1-8B-Instruct","nodesPerReplica":1,'
    '"outputTokensPerS":406.4,"pipelineParallel":1,"prefillShare":0.195,"replicas":2,'
    '"tensorParallel":2,"tier":"better","usdPerHour":4.0}'
)


def test_summary_renders_the_golden_bytes_and_round_trips() -> None:
    assert FULL.to_annotation() == FULL_TEXT
    assert PlanSummary.from_annotation(FULL_TEXT) == FULL


def test_summary_without_a_price_round_trips() -> None:
    unpriced = PlanSummary(model="m", replicas=1)
    text = unpriced.to_annotation()
    assert '"usdPerHour":null' in text
    assert PlanSummary.from_annotation(text) == unpriced


@pytest.mark.parametrize(
    "text",
    [None, "", "not json", "{", "[1, 2]", '"a string"', "42", "null", "[" * 100_000],
    ids=["missing", "empty", "not-json", "truncated", "list", "string", "number", "null", "deep"],
)
def test_no_summary_to_read_is_none(text: str | None) -> None:
    assert PlanSummary.from_annotation(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{}", PlanSummary()),
        ('{"replicas": 3, "someday": {"new": "field"}}', PlanSummary(replicas=3)),
        ('{"replicas": "3", "model": 7, "gpu": null}', PlanSummary()),
        ('{"replicas": true, "kvTokens": 1.5}', PlanSummary()),
        ('{"usdPerHour": 4}', PlanSummary(usd_per_hour=4.0)),
        ('{"usdPerHour": NaN, "tier": ["good"]}', PlanSummary()),
    ],
    ids=["empty-object", "unknown-key", "wrong-types", "bool-and-float-counts", "int-price", "nan"],
)
def test_wrongly_typed_fields_read_as_none(text: str, expected: PlanSummary) -> None:
    assert PlanSummary.from_annotation(text) == expected


def _root(**meta: Any) -> dict[str, Any]:
    return {"kind": "Deployment", "metadata": {"name": "obj", **meta}}


def test_readers_of_an_object() -> None:
    root = _root(
        labels={identity.DEPLOYMENT: "chat", identity.MODEL: "llama", identity.RUNTIME: "vllm"},
        annotations={identity.ROOT: "true", identity.PLAN: FULL_TEXT},
    )
    assert identity.is_root(root)
    assert identity.deployment_of(root) == "chat"
    assert identity.model_of(root) == "llama"
    assert identity.runtime_of(root) == "vllm"
    assert identity.summary_of(root) == FULL

    bare = _root(labels=None, annotations={identity.PLAN: "{oops"})
    assert not identity.is_root(bare)
    assert identity.deployment_of(bare) == "obj"  # its own name when unlabelled
    assert identity.model_of(bare) is None
    assert identity.summary_of(bare) is None


def test_what_an_operator_made_from_a_root_is_no_root_though_it_copies_the_annotation() -> None:
    """KServe copies every annotation of our InferenceService onto the predictor Deployment it
    makes and controls; `ls` listed that Deployment as a second deployment of the same name."""
    annotations = {identity.ROOT: "true"}
    made = _root(
        annotations=annotations,
        ownerReferences=[{"kind": "InferenceService", "name": "chat", "controller": True}],
    )
    assert not identity.is_root(made)
    # An owner that does not control it (a garbage-collection link alone) leaves it a root.
    linked = _root(annotations=annotations, ownerReferences=[{"kind": "ConfigMap", "name": "x"}])
    assert identity.is_root(linked)
    assert identity.summary_of({"metadata": {}}) is None


def test_selectors() -> None:
    assert identity.managed_selector() == "app.kubernetes.io/managed-by=kubefoundry"
    assert identity.deployment_selector("chat") == "kubefoundry.io/deployment=chat"
    assert identity.model_cache_selector("llama") == (
        "kubefoundry.io/model=llama,app.kubernetes.io/component=model-cache"
    )


def test_the_writer_builds_the_summary_through_plan_summary() -> None:
    plan = rendering.plan("llama-3.1-8b", gpu="L4")
    out = labels.root_annotations(plan)
    assert out[identity.ROOT] == "true"
    assert PlanSummary.from_annotation(out[identity.PLAN]) == labels.plan_summary(plan)


# Keys that belong to one module and are read nowhere else stay there.
OWN_KEYS = {
    "core/identity.py",  # every shared key
    "sandbox/components.py",  # the sandbox provisioner's name
    "sandbox/pools.py",  # the sandbox's node-pool annotation
    "runtimes/llmd.py",  # llm-d's inference-pool label
    "runtimes/export/tgitemplates.py",  # the TGI chart's environment and catalog labels
}
KEY_LITERAL = re.compile(r"""(?:^|[^\\])["']kubefoundry\.io/""")


def test_no_module_spells_a_key_of_its_own() -> None:
    src = Path(kubefoundry.__file__).parent
    scattered = [
        f"{path.relative_to(src)}:{n}: {line.strip()}"
        for path in sorted(src.rglob("*.py"))
        if path.relative_to(src).as_posix() not in OWN_KEYS
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if KEY_LITERAL.search(line)
    ]
    assert not scattered, "import the key from kubefoundry.core.identity:\n" + "\n".join(scattered)
