"""docs/runtimes/README.md is the registry's table: regenerate it when a runtime changes."""

from __future__ import annotations

from scripts import runtime_table
from tests.conftest import REPO


def test_the_runtimes_table_in_the_docs_matches_the_registry() -> None:
    doc = (REPO / "docs" / "runtimes" / "README.md").read_text()
    assert doc == runtime_table.table(), (
        "docs/runtimes/README.md is stale: run "
        ".venv/bin/python scripts/runtime_table.py > docs/runtimes/README.md"
    )


def test_every_runtime_has_its_page() -> None:
    for name in runtime_table.registry.default().names():
        assert (REPO / "docs" / "runtimes" / f"{name}.md").exists(), name
