"""Claims: the phrase is made from the value, and ``find`` reads the field it names back."""

from __future__ import annotations

from typing import Any

import pytest

from kubefoundry.runtimes.common.claims import After, At, Claim, Parsed, Pick, agrees, find

OBJECTS: list[dict[str, Any]] = [
    {
        "kind": "Deployment",
        "metadata": {"name": "web", "annotations": {"scaledobject.kaito.sh/max-replicas": "6"}},
        "spec": {
            "replicas": 2,
            "containers": [{"name": "vllm", "args": ["--port", "8000"], "env": []}],
        },
    },
    {"kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"c.yaml": "a:\n  b: [1, 2]\n"}},
]


@pytest.mark.parametrize(
    ("at", "value"),
    [
        (At("Deployment", "web", ("spec", "replicas")), 2),
        (At("Deployment", "web", ("spec", "containers", Pick("name", "vllm"), "name")), "vllm"),
        (At("Deployment", "web", ("spec", "containers", 0, "args", After("--port"))), "8000"),
        (
            At(
                "Deployment",
                "web",
                ("metadata", "annotations", "scaledobject.kaito.sh/max-replicas"),
            ),
            "6",
        ),
        (At("ConfigMap", "cfg", ("data", "c.yaml", Parsed(), "a", "b", 1)), 2),
    ],
)
def test_find_reads_the_field_a_claim_names(at: At, value: Any) -> None:
    assert find(OBJECTS, at) == value


@pytest.mark.parametrize(
    ("at", "missing"),
    [
        (At("Service", "web", ("spec",)), "no Service/web"),
        (At("Deployment", "web", ("spec", "containers", Pick("name", "tgi"))), "[name=tgi]"),
        (At("Deployment", "web", ("spec", "containers", 0, "args", After("--tp"))), "--tp"),
        (At("Deployment", "web", ("spec", "containers", 3)), "[3]"),
    ],
)
def test_a_field_that_is_not_there_is_named(at: At, missing: str) -> None:
    with pytest.raises(KeyError, match=missing.replace("[", r"\[").replace("]", r"\]")):
        find(OBJECTS, at)


@pytest.mark.parametrize(
    ("found", "value", "same"),
    [("2", 2, True), (4, 4.0, True), ("0.9", 0.9, True), ("kv", "kv", True), ("3", 2, False)],
)
def test_values_agree_as_numbers_when_both_are(found: Any, value: Any, same: bool) -> None:
    assert agrees(found, value) is same


def test_the_phrase_is_made_from_the_value() -> None:
    at = At("Deployment", "web", ("spec", "replicas"))
    assert str(Claim(2, at, "{} decode")) == "2 decode"
    assert str(Claim(4.0, at, "threshold {}")) == "threshold 4"
    assert str(Claim(0.9, at)) == "0.9"
