"""Every pitfall rule against its bad example (caught) and its fixed one (clean).

The examples in tests/fixtures/checks/<rule>/ come from the pain points the seeds describe;
each bad.yaml says which. A ``facts.yaml`` beside them is the cluster the rule needs.
"""

from __future__ import annotations

import re

import pytest
from tests.unit.checks.support import FIXTURES, REPO, rules_of, run, run_file

from kubefoundry.checks import rules
from kubefoundry.checks.findings import Severity
from kubefoundry.core.errors import NotFoundError

RULE_IDS = [r.id for r in rules.RULES]


def _facts(rule: str) -> object:
    facts = FIXTURES / rule / "facts.yaml"
    return facts if facts.exists() else None


@pytest.mark.parametrize("rule", RULE_IDS)
def test_bad_example_is_caught(rule: str) -> None:
    findings = run_file(FIXTURES / rule / "bad.yaml", facts=_facts(rule))  # type: ignore[arg-type]
    mine = [f for f in findings if f.rule == rule]
    assert mine, f"{rule} did not catch its bad example; found {rules_of(findings)}"
    for f in mine:
        assert f.message.strip()
        assert f.fix.strip()
        assert f.ref.kind
        assert f.ref.name
        assert f.ref.source.endswith("bad.yaml")


@pytest.mark.parametrize("rule", RULE_IDS)
def test_fixed_example_passes(rule: str) -> None:
    findings = run_file(FIXTURES / rule / "fixed.yaml", facts=_facts(rule))  # type: ignore[arg-type]
    assert rule not in rules_of(findings), [f.message for f in findings if f.rule == rule]
    errors = [f"{f.rule}: {f.message}" for f in findings if f.is_error]
    assert not errors, errors


@pytest.mark.parametrize("rule", RULE_IDS)
@pytest.mark.parametrize("name", ["bad.yaml", "fixed.yaml"])
def test_examples_are_schema_valid(rule: str, name: str) -> None:
    findings = run_file(FIXTURES / rule / name, facts=_facts(rule))  # type: ignore[arg-type]
    bad = [f"{f.path}: {f.message}" for f in findings if f.rule in rules.BUILT_IN]
    assert not bad, bad


def test_rule_ids_are_unique_stable_and_documented() -> None:
    ids = rules.ids()
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", i) for i in ids)
    docs = (REPO / "docs" / "checks.md").read_text()
    missing = [i for i in ids if f"`{i}`" not in docs]
    assert not missing, f"document these rules in docs/checks.md: {missing}"
    assert sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()) == sorted(RULE_IDS)


def test_ignore_skips_a_rule_and_unknown_names_suggest() -> None:
    bad = FIXTURES / "secret-inlined" / "bad.yaml"
    from kubefoundry.checks import reading

    docs = reading.read_paths([bad])
    assert "secret-inlined" not in rules_of(run(docs, ignore=["secret-inlined"]))
    with pytest.raises(NotFoundError, match="secret-inlined"):
        run(docs, ignore=["secret-inline"])


def test_severity_classifies_itself() -> None:
    assert Severity.ERROR.is_error
    assert not Severity.WARNING.is_error
    assert not Severity.INFO.is_error
    assert Severity.ERROR.rank < Severity.WARNING.rank < Severity.INFO.rank


def test_findings_come_errors_first() -> None:
    findings = run_file(FIXTURES / "ray-version-mismatch" / "bad.yaml")
    ranks = [f.severity.rank for f in findings]
    assert ranks == sorted(ranks)
    assert {f.severity for f in findings} == {Severity.ERROR, Severity.WARNING}
