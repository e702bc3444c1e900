"""How the CLI talks to people: JSON for machines, Rich for humans, errors on stderr."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from kubefoundry.core import choices
from kubefoundry.core.errors import Remedy

if TYPE_CHECKING:  # imported when used: a command line that answers in a blink
    from rich.console import Console

    from kubefoundry.checks.findings import Finding
    from kubefoundry.core.errors import KubeFoundryError
    from kubefoundry.deploy import rendering


Format = choices.OutputFormat
OutputFormat = Annotated[
    Format | None,
    typer.Option("--output", "-o", help="Print data as json or yaml instead of tables."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Same as -o json.")]


def data(value: Any, fmt: Format | None, *, as_json: bool = False) -> bool:
    """Print ``value`` as JSON or YAML when asked (``-o json|yaml``, ``--json``); say whether
    it did, so the caller prints its tables otherwise."""
    if as_json or fmt == "json":
        print_json(value)
        return True
    if fmt == "yaml":
        import yaml

        print(yaml.safe_dump(json.loads(json.dumps(value, default=str)), sort_keys=False), end="")
        return True
    return False


@functools.cache
def console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def print_json(data: Any) -> None:
    # Plain print: Rich would wrap long lines and break the JSON for pipes.
    print(json.dumps(data, indent=2, sort_keys=False, default=str))


# How the command line words each fix that errors leave to the surface (core.errors.Remedy).
REMEDIES: dict[Remedy, str] = {
    Remedy.MODEL_CONFIG: "Pass --config FILE with the model's config.json (no Hub needed).",
    Remedy.HF_TOKEN_SECRET: "Pass --hf-token-secret NAME, the Secret that holds the token.",
    Remedy.ALL_NAMESPACES: "`kubefoundry ls -A` lists the deployments of every namespace "
    "you may read (-n NAME picks one).",
    Remedy.OVERWRITE: "Pass --force to write into it anyway: files with the same names are "
    "replaced, others are left alone.",
}
_FIELD = re.compile(r"`([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*)`")


def flags(text: str) -> str:
    """``text`` with each spec field the lower layers name (`` `gpu_count` ``) as its flag
    (``--gpu-count``); a name no flag sets stays as it is."""
    from kubefoundry.cli import requesting

    return _FIELD.sub(lambda m: requesting.flag_of(m.group(1)) or m.group(0), text)


def error(exc: KubeFoundryError) -> None:
    """The message, then the fix: each remedy as a flag, then the hint (its fields as flags)."""
    from rich.text import Text

    _stderr = stderr()
    _stderr.print(Text.assemble(("Error: ", "bold red"), flags(exc.message)))
    fix = [REMEDIES[r] for r in exc.remedies] + ([flags(exc.hint)] if exc.hint else [])
    if fix:
        _stderr.print(Text.assemble(("To fix: ", "yellow"), " ".join(fix)))


def error_text(text: str) -> None:
    from rich.text import Text

    stderr().print(Text.assemble(("Error: ", "bold red"), text))


@functools.cache
def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def plain_line(text: Any) -> None:
    """One line on stderr with no styling and no cursor tricks, flushed now: for logs that
    are not a terminal (CI), where a live line would print nothing until the end."""
    import sys
    import time

    plain = text.plain if hasattr(text, "plain") else str(text)
    print(f"{time.strftime('%H:%M:%S')} {plain}", file=sys.stderr, flush=True)


def print_yaml(manifests: Sequence[Mapping[str, Any]]) -> None:
    """Objects as one multi-document YAML stream on stdout (for ``kubectl apply -f -``)."""
    import yaml

    print(yaml.safe_dump_all([dict(m) for m in manifests], sort_keys=False, width=100), end="")


def explain_render(result: rendering.Result) -> None:
    """What was rendered and why, on stderr, so stdout stays clean YAML."""
    from rich.text import Text

    from kubefoundry.core.naming import counted

    _stderr = stderr()
    plan, rendered = result.plan, result.rendered
    _stderr.print(
        Text.assemble(
            ("Rendered ", "bold"),
            f"{counted(len(rendered.manifests), 'object')} for {plan.model_id} on "
            f"{rendered.runtime} ({plan.gpu_count} × {plan.gpu} per replica, "
            f"{counted(plan.replicas, 'replica')}, "
            f"{plan.max_model_len:,}-token context)",
        )
    )
    runtime_decisions = [d for d in plan.decisions if d.topic in ("runtime", "scale to zero")]
    for decision in (*runtime_decisions, *rendered.decisions):
        _stderr.print(
            Text.assemble((f"{decision.topic}: ", "bold"), decision.choice, " — ", decision.reason)
        )
        for alt in decision.alternatives[:8]:
            _stderr.print(Text.assemble("    not ", (alt.option, "dim"), f": {alt.why_not}"))
    for warning in (*plan.warnings, *rendered.warnings):
        _stderr.print(Text.assemble(("warning: ", "yellow"), flags(warning)))


def wrote(paths: Sequence[Path], *, directory: Path) -> None:
    from rich.text import Text

    stderr().print(Text.assemble(("Wrote ", "bold"), f"{len(paths)} files to {directory}"))


_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}


def findings(found: Sequence[Finding]) -> None:
    """Check findings on stderr, one line each with its fix (for commands whose stdout is data)."""
    from rich.text import Text

    for f in found:
        stderr().print(
            Text.assemble(
                (f"{f.severity}", _SEVERITY_STYLE[str(f.severity)]),
                f" [{f.rule}] {f.ref}",
                (f" {f.path}" if f.path else "", "dim"),
                f": {f.message}",
                ("\n    fix: ", "dim"),
                f.fix,
            )
        )


@dataclasses.dataclass(frozen=True)
class Column:
    """A column of a table people read in a terminal of any width.

    ``identifier``: a name the user types next (a model alias, a GPU, a deployment); it is
    never cut or wrapped. ``drop``: 0 means always shown; when the terminal is too narrow
    the column with the highest ``drop`` goes first (``-o json`` still has everything).
    """

    header: str
    identifier: bool = False
    drop: int = 0
    justify: Literal["left", "right"] = "left"


def fitted_table(title: str, columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> Any:
    """A Rich table that fits the terminal: other columns wrap first (between words), then the
    least needed ones are left out (named in the caption); identifiers are never cut."""
    shown = list(range(len(columns)))
    hidden: list[str] = []
    while True:
        widths, fits = _widths(
            [columns[i] for i in shown], [[str(r[i]) for i in shown] for r in rows]
        )
        droppable = [i for i in shown if columns[i].drop]
        if fits or not droppable:
            table = _table(
                title, [columns[i] for i in shown], [[r[i] for i in shown] for r in rows], widths
            )
            if hidden:
                table.caption = f"Narrow terminal: {', '.join(hidden)} not shown (-o json has all)."
            return table
        worst = max(droppable, key=lambda i: columns[i].drop)
        shown.remove(worst)
        hidden.insert(0, columns[worst].header)


_OVERHEAD_PER_COLUMN = 3  # padding on both sides and the space of the rule between columns


def _widths(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> tuple[list[int], bool]:
    """Each column's width in a table as wide as the terminal at most, and whether that fits:
    when even the least widths (an identifier whole, any other column its longest word) are
    too wide, those least widths and False."""
    room = console().width - _OVERHEAD_PER_COLUMN * len(columns) + 1
    natural, least = [], []
    for i, column in enumerate(columns):
        texts = [*(r[i] for r in rows), column.header]
        natural.append(max(map(len, texts)))
        words = [len(word) for text in texts for word in text.split()]
        least.append(natural[-1] if column.identifier else max(words, default=1))
    if sum(natural) <= room:
        return natural, True
    if sum(least) > room:
        return least, False
    spare = room - sum(least)
    wants = [n - m for n, m in zip(natural, least, strict=True)]
    total = sum(wants) or 1
    return [m + spare * w // total for m, w in zip(least, wants, strict=True)], True


def _table(
    title: str, columns: Sequence[Column], rows: Sequence[Sequence[str]], widths: Sequence[int]
) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    for column, width in zip(columns, widths, strict=True):
        table.add_column(
            column.header,
            justify=column.justify,
            no_wrap=column.identifier,
            width=width,
            overflow="fold",
        )
    for row in rows:
        table.add_row(*row)
    return table
