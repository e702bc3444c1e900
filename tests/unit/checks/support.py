"""Shared pieces for the checks tests: schemas and catalogs loaded once, a run helper."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.conftest import SHARED

from kubefoundry.checks import checking, reading
from kubefoundry.checks.context import Catalogs
from kubefoundry.checks.documents import Document
from kubefoundry.checks.findings import Finding
from kubefoundry.checks.schemas import Schemas
from kubefoundry.core.facts import ClusterFacts, load_facts

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "checks"
SAMPLES = SHARED / "upstream-samples"
CRDS = SHARED / "crds"


@functools.lru_cache(maxsize=1)
def schemas() -> Schemas:
    return Schemas.load([CRDS])


@functools.lru_cache(maxsize=1)
def catalogs() -> Catalogs:
    return Catalogs.load()


def run(
    manifests: Iterable[Mapping[str, Any] | Document],
    *,
    facts: ClusterFacts | None = None,
    ignore: Sequence[str] = (),
) -> list[Finding]:
    return checking.check(
        manifests, schemas=schemas(), facts=facts, ignore=ignore, catalogs=catalogs()
    )


def run_file(path: Path, *, facts: Path | None = None) -> list[Finding]:
    return run(reading.read_paths([path]), facts=load_facts(facts) if facts else None)


def rules_of(findings: Iterable[Finding]) -> set[str]:
    return {f.rule for f in findings}
