"""At 80 columns (and narrower) the tables fit and never cut a name the user types next."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support import cli

from kubefoundry.catalog import gpus, models

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checks"


def run(*args: str, columns: int) -> str:
    done = cli.kubefoundry(*args, columns=columns)
    assert done.returncode in (0, 1), done.stderr
    return done.stdout


def tokens(text: str) -> set[str]:
    return {word for line in text.splitlines() for word in line.split()}


@pytest.mark.parametrize("columns", [80, 60])
def test_catalog_shows_every_alias_whole(columns: int) -> None:
    out = run("catalog", columns=columns)
    assert max(map(len, out.splitlines())) <= columns
    entries = models.ModelCatalog.load().all()
    assert {e.aliases[0] for e in entries if e.aliases} <= tokens(out)


def test_catalog_shows_the_hugging_face_ids_when_there_is_room() -> None:
    out = run("catalog", columns=200)
    assert {e.id for e in models.ModelCatalog.load().all()} <= tokens(out)
    assert "Narrow terminal" not in out


@pytest.mark.parametrize("columns", [80, 60])
def test_gpus_shows_every_gpu_whole(columns: int) -> None:
    out = run("gpus", columns=columns)
    assert max(map(len, out.splitlines())) <= columns
    assert {g.id for g in gpus.load().all()} <= tokens(out)


def test_check_at_80_columns_keeps_object_names_whole() -> None:
    out = run("check", str(FIXTURES / "parallelism-gpu-mismatch"), columns=80)
    assert max(map(len, out.splitlines())) <= 80
    assert "Deployment/qwen3-32b" in tokens(out)


@pytest.mark.parametrize("columns", [80, 60])
def test_runtimes_folds_every_reason_whole(columns: int) -> None:
    """At 80 columns the "cannot serve" reasons were cut ("disaggregatio…")."""
    out = run("runtimes", columns=columns)
    assert max(map(len, out.splitlines())) <= columns
    assert "…" not in out
    cells = "".join(line.split("│")[-2] for line in out.splitlines() if line.count("│") > 2)
    assert "multi-nodeprefill/decodedisaggregation" in "".join(cells.split())  # whole, if folded
