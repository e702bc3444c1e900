"""KubeFoundry's own renders (the reviewed golden files) pass its checks with no error."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.checks.support import REPO, run_file

GOLDEN = sorted(
    p
    for p in (REPO / "tests" / "golden").rglob("*.yaml")
    if not p.name.endswith(".serve-config.yaml")
)


def test_there_are_goldens() -> None:
    assert GOLDEN


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_golden_renders_have_no_errors(path: Path) -> None:
    errors = [f"{f.rule} {f.ref} {f.path}: {f.message}" for f in run_file(path) if f.is_error]
    assert not errors, errors
