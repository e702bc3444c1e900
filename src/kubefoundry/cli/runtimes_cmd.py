"""``kubefoundry runtimes``: what each runtime renders, needs and cannot do (with reasons)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubefoundry.cli import output

if TYPE_CHECKING:
    from kubefoundry.runtimes import base


def runtimes(fmt: output.OutputFormat = None, as_json: output.JsonFlag = False) -> None:
    """List the runtimes, in the order KubeFoundry prefers them, with their limits."""
    from kubefoundry.runtimes import registry

    everything = registry.default().all()
    rows = [
        {
            "name": r.name,
            "summary": r.summary,
            "requires": list(r.requires),
            "cannot": {f.value: why for f, why in r.limits.items()},
        }
        for r in everything
    ]
    if not output.data(rows, fmt, as_json=as_json):
        _table(everything)


def _table(everything: tuple[base.Runtime, ...]) -> None:
    from rich.table import Table

    table = Table(title="Runtimes (preferred first when none is pinned)", show_lines=True)
    for column in ("runtime", "renders", "needs installed", "cannot serve (why)"):
        table.add_column(column)
    for r in everything:
        cannot = "\n".join(f"{feature.value}: {why}" for feature, why in r.limits.items())
        table.add_row(r.name, r.summary, ", ".join(r.requires) or "-", cannot)
    output.console().print(table)
