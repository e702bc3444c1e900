"""``kubefoundry runtimes``: what each runtime renders, needs and cannot do (with reasons)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubefoundry.cli import output

if TYPE_CHECKING:
    from kubefoundry.runtimes import base


def runtimes(fmt: output.OutputFormat = None, as_json: output.JsonFlag = False) -> None:
    """List the runtimes, in the order KubeFoundry prefers them, with their limits."""
    from kubefoundry.runtimes import registry
    from kubefoundry.runtimes.common import engine_options

    everything = registry.default().all()
    rows = [
        {
            "name": r.name,
            "summary": r.summary,
            "requires": list(r.requires),
            "engine_options_validated": engine_options.validated(r.name),
            "cannot": {f.value: why for f, why in r.limits.items()},
        }
        for r in everything
    ]
    if not output.data(rows, fmt, as_json=as_json):
        _table(everything)


def _table(everything: tuple[base.Runtime, ...]) -> None:
    from rich.table import Table

    from kubefoundry.runtimes import base
    from kubefoundry.runtimes.common import engine_options

    table = Table(title="Runtimes (preferred first when none is pinned)", show_lines=True)
    columns = ("runtime", "renders", "needs installed", "engine flags checked", "cannot serve")
    for column in columns:
        table.add_column(column, overflow="fold")  # a narrow terminal folds, never cuts
    for r in everything:
        cannot = "\n".join(f"{feature.value}: {why}" for feature, why in r.limits.items())
        checked = engine_options.validated(r.name) or "-"
        table.add_row(r.name, r.summary, base.requirement_text(r), checked, cannot)
    output.console().print(table)
