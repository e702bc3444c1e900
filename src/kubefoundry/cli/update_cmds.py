"""``update`` and ``scale``: change a running deployment, the diff shown first.

Both call ``deploy/updating`` as the REST API's PATCH and scale routes do. ``update`` merges
the flags (and a partial spec, ``-f``) onto the spec the deployment was made from, prints
what would change (the plan in words, then each object's diff) and asks before applying
(``--yes`` does not ask; ``--dry-run`` only shows). ``scale`` applies at once, as ``kubectl
scale`` does, and prints what it changed. Prices come from the cluster's settings
(ConfigMap ``kubefoundry-settings`` in the kubeconfig context's namespace), as the server's do.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kubefoundry.cli import output, requesting
from kubefoundry.cli.cluster_cmds import Context, Kubeconfig
from kubefoundry.core import choices
from kubefoundry.core.errors import InvalidInputError, KubeFoundryError

if TYPE_CHECKING:
    from kubefoundry.deploy import updating

Name = Annotated[str, typer.Argument(help="Deployment name (see `kubefoundry ls`).")]
PartialFile = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="Spec fields to change (YAML/JSON); flags override."),
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Only show what would change.")]
_STYLE = {"+": "green", "-": "red", "@": "cyan"}


def update(
    name: Name,
    namespace: requesting.Namespace = None,
    file: PartialFile = None,
    tier: Annotated[
        choices.Tier | None, typer.Option("--tier", help="The tier to re-plan for.")
    ] = None,
    replicas: requesting.Replicas = None,
    context_length: requesting.ContextLength = None,
    gpu: requesting.Gpu = None,
    gpu_count: requesting.GpuCount = None,
    runtime: requesting.Runtime = None,
    yes: Yes = False,
    dry_run: DryRun = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    fmt: output.OutputFormat = None,
) -> None:
    """Change a deployment's spec (tier, replicas, context, any field with -f): shows the
    diff, asks, applies."""
    flags = {
        "tier": tier,
        "replicas": replicas,
        "context_length": context_length,
        "gpu": gpu,
        "gpu_count": gpu_count,
        "runtime": runtime,
    }
    changes = _partial(file) | {k: v for k, v in flags.items() if v is not None}
    if not changes:
        raise InvalidInputError(
            "Nothing to change.",
            hint="Pass a flag (--replicas 2, --tier best, --context-length 16384) or -f "
            "with the spec fields to change.",
        )
    _run(name, changes, namespace, kubeconfig, context, apply=not dry_run, ask=not yes, fmt=fmt)


def scale(
    name: Name,
    replicas: Annotated[int, typer.Argument(min=1, max=100, help="Replicas wanted.")],
    namespace: requesting.Namespace = None,
    dry_run: DryRun = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    fmt: output.OutputFormat = None,
) -> None:
    """Set a deployment's replicas (an autoscaled one: its plan's, from which the scaler's
    range is sized)."""
    _run(
        name,
        {"replicas": replicas},
        namespace,
        kubeconfig,
        context,
        apply=not dry_run,
        ask=False,
        fmt=fmt,
    )


def _partial(file: Path | None) -> dict[str, Any]:
    if file is None:
        return {}
    import yaml

    from kubefoundry.core import files

    try:
        raw = files.parse_yaml(file.read_text())
    except FileNotFoundError:
        raise InvalidInputError(
            f"No such file: {file}.", hint="Give a YAML file of the spec fields to change."
        ) from None
    except yaml.YAMLError as exc:
        raise InvalidInputError(
            f"{file} is not valid YAML/JSON: {exc}", hint="Fix the syntax and try again."
        ) from None
    if not isinstance(raw, dict):
        raise InvalidInputError(
            f"{file} holds a {type(raw).__name__}, not spec fields.",
            hint="Write the fields to change as a mapping, e.g. `replicas: 2`.",
        )
    return raw


def _run(
    name: str,
    changes: dict[str, Any],
    namespace: str | None,
    kubeconfig: Path | None,
    context: str | None,
    *,
    apply: bool,
    ask: bool,
    fmt: output.Format | None,
) -> None:
    from kubefoundry.cli.cluster_cmds import _connect
    from kubefoundry.deploy import settings, updating

    conn = _connect(kubeconfig, context, namespace)
    home = _connect(kubeconfig, context, None)  # where the settings live: the context's
    try:
        prices = settings.ClusterStore(home, home.namespace).load().gpu_prices
    except KubeFoundryError as exc:  # a plan still works, at list prices
        output.stderr().print(f"[yellow]note:[/] GPU prices not read ({exc.message})")
        prices = {}
    update = updating.plan_update(
        conn, name=name, namespace=conn.namespace, changes=changes, prices=prices
    )
    if output.data(update.to_dict(), fmt):
        if apply:
            updating.apply_update(conn, update)
        return
    _show(update)
    if update.is_empty or not apply:
        return
    if ask:
        if not sys.stdin.isatty():
            raise InvalidInputError(
                "Not applied: this is not a terminal to ask on.",
                hint="Pass --yes to apply without asking, or --dry-run to only show.",
            )
        typer.confirm(f"Apply to {name} in namespace {conn.namespace}?", abort=True)
    err = output.stderr()
    done = updating.apply_update(
        conn, update, progress=lambda a: err.print(f"  {a.kind}/{a.name} {a.action}")
    )
    for item in done.deleted:
        err.print(f"  {item} deleted")
    err.print(f"[bold]Updated[/] {name}; `kubefoundry status {name}` follows it.")


def _show(update: updating.Update) -> None:
    from rich.text import Text

    out = output.console()
    if update.is_empty:
        out.print(f"No change: {update.name} already is what the spec asks for.")
    for line in update.changes:
        out.print(Text.assemble(("plan: ", "bold"), line))
    for note in update.notes:
        out.print(Text.assemble(("note: ", "yellow"), note))
    for added in update.added:
        out.print(Text(f"+ {added.kind}/{added.name} (new)", style="green"))
    for gone in update.removed:
        out.print(Text(f"- {gone['kind']}/{gone['metadata']['name']} (deleted)", style="red"))
    for changed in update.changed:
        out.print(Text(f"~ {changed.kind}/{changed.name}", style="bold"))
        for line in changed.diff.splitlines():
            out.print(Text(line, style=_STYLE.get(line[:1], "")), soft_wrap=True)
