"""``kubefoundry check PATH...``: lint manifests against real schemas and serving pitfalls.

Exit codes: 0 when nothing is an error (warnings and infos allowed), 1 when any finding is
an error, 2 when the input cannot be read (via :class:`KubeFoundryError`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kubefoundry.cli import output
from kubefoundry.core.errors import InvalidInputError

if TYPE_CHECKING:
    from kubefoundry.checks.findings import Finding

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def check(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Manifest files or folders (searched for *.yaml, *.yml, *.json); - for stdin."
        ),
    ],
    cluster: Annotated[
        Path | None,
        typer.Option("--cluster", help="Cluster facts file: also check node selectors."),
    ] = None,
    crds: Annotated[
        list[Path] | None,
        typer.Option(
            "--crds",
            help="Folder of CRD YAML files (repeatable); default: KUBEFOUNDRY_CRDS, else the "
            "CRDs packaged with KubeFoundry.",
        ),
    ] = None,
    ignore: Annotated[
        list[str] | None, typer.Option("--ignore", help="Rule id to skip (repeatable).")
    ] = None,
    fmt: output.OutputFormat = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Check manifests for schema errors and LLM-serving pitfalls; exit 1 on any error."""
    from kubefoundry.checks import checking, reading
    from kubefoundry.checks.schemas import Schemas
    from kubefoundry.core.facts import load_facts

    for folder in crds or ():
        if not folder.is_dir():
            raise InvalidInputError(
                f"--crds {folder}: not a folder.", hint="Give a folder holding CRD YAML files."
            )
    documents = reading.read_paths(paths)
    facts = load_facts(cluster) if cluster else None
    findings = checking.check(
        documents, schemas=Schemas.load(crds or ()), facts=facts, ignore=ignore or ()
    )
    files = len({d.source for d in documents})
    report = {
        "findings": [f.to_dict() for f in findings],
        "summary": _summary(findings, objects=len(documents), files=files),
    }
    if not output.data(report, fmt, as_json=as_json):
        show(findings, objects=len(documents), files=files)
    if any(f.is_error for f in findings):
        raise typer.Exit(1)


def _summary(findings: list[Finding], *, objects: int, files: int) -> dict[str, int]:
    counts = Counter(str(f.severity) for f in findings)
    return {
        "errors": counts["error"],
        "warnings": counts["warning"],
        "infos": counts["info"],
        "objects": objects,
        "files": files,
    }


def show(findings: list[Finding], *, objects: int, files: int) -> None:
    from rich.text import Text

    from kubefoundry.core.naming import counted

    console = output.console()
    if findings and console.width >= _TABLE_MIN_WIDTH:
        console.print(_table(findings))
    else:  # narrow terminal: one block per finding, the object's name never cut
        for f in findings:
            console.print(_block(f), soft_wrap=False)
    s = _summary(findings, objects=objects, files=files)
    line = Text.assemble(
        (counted(s["errors"], "error"), _STYLE["error"] if s["errors"] else ""),
        ", ",
        (counted(s["warnings"], "warning"), _STYLE["warning"] if s["warnings"] else ""),
        f", {counted(s['infos'], 'info')} in {counted(objects, 'object')} from "
        f"{counted(files, 'file')}.",
    )
    console.print(line)


_TABLE_MIN_WIDTH = 120  # below this the five columns would cut object names


def _table(findings: list[Finding]) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(show_lines=True, expand=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("object", ratio=2, overflow="fold")
    table.add_column("message", ratio=4)
    table.add_column("fix", ratio=4)
    for f in findings:
        where = Text(str(f.ref), style="bold")
        where.append(f"\n{f.ref.location}", style="dim")
        if f.path:
            where.append(f"\n{f.path}", style="dim")
        table.add_row(
            Text(str(f.severity), style=_STYLE[str(f.severity)]),
            Text(f.rule),
            where,
            Text(f.message),  # Text, not str: user values must not be read as markup
            Text(f.fix),
        )
    return table


def _block(f: Finding) -> Any:
    from rich.text import Text

    return Text.assemble(
        (str(f.severity), _STYLE[str(f.severity)]),
        f" [{f.rule}] ",
        (str(f.ref), "bold"),
        ("\n  " + f.ref.location + (f" {f.path}" if f.path else ""), "dim"),
        "\n  ",
        f.message,
        ("\n  fix: ", "dim"),
        f.fix,
        "\n",
    )
