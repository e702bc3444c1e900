"""The ``kubefoundry`` command: a thin Typer shell over catalog and planning.

Every command builds its inputs, calls one function of the layers below and prints the
result as a Rich table or, with ``-o json|yaml``, one document. Usage mistakes print the
usage and the mistake and exit 2; errors raised on purpose (:class:`KubeFoundryError`) print
their message and fix and exit 2; anything else is a bug (exit 70). Never a traceback.
"""

from __future__ import annotations

import os
import sys

import typer

from kubefoundry import __version__
from kubefoundry.cli import (
    bench_cmd,
    catalog_cmds,
    chart_cmd,
    chat_cmd,
    check_cmd,
    cluster_cmds,
    estimate_cmd,
    output,
    plan_cmd,
    render_cmd,
    runtimes_cmd,
    sandbox_cmds,
    serve_cmd,
    top_cmd,
    update_cmds,
)
from kubefoundry.core.errors import KubeFoundryError

app = typer.Typer(
    name="kubefoundry",
    help="Plan, render and deploy open LLMs on Kubernetes, with every choice explained.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: it fits 80 columns, names each option's allowed values and shows no type
    # noise on flags.
    rich_markup_mode=None,
)
# (name, function, the line `kubefoundry --help` shows: short enough for 80 columns)
for _name, _function, _short in (
    ("catalog", catalog_cmds.catalog, "The curated models and their aliases."),
    ("gpus", catalog_cmds.gpus, "The GPUs the planner knows."),
    ("plan", plan_cmd.plan, "Plan GPUs, context, replicas and cost, explained."),
    ("render", render_cmd.render, "Render a runtime's objects, checked."),
    ("estimate", estimate_cmd.estimate, "vLLM's memory arithmetic for one replica."),
    ("runtimes", runtimes_cmd.runtimes, "What each runtime renders and cannot do."),
    ("cluster", cluster_cmds.cluster, "What a cluster has: GPU pools, operators."),
    ("deploy", cluster_cmds.deploy, "Plan, render and apply; watch it come up."),
    ("ls", cluster_cmds.ls, "List deployments."),
    ("status", cluster_cmds.status, "Where a deployment is, and why."),
    ("logs", cluster_cmds.logs, "The engine's log lines."),
    ("top", top_cmd.top, "Live metrics: load, tokens/s, latency, KV."),
    ("chat", chat_cmd.chat, "Ask the model; stream the answer, TTFT, tok/s."),
    ("bench", bench_cmd.bench, "A short load run: measured vs predicted speed."),
    ("update", update_cmds.update, "Change a deployment: the diff, then apply."),
    ("scale", update_cmds.scale, "Set a deployment's replicas."),
    ("delete", cluster_cmds.delete, "Delete a deployment (the model cache stays)."),
    ("check", check_cmd.check, "Lint manifests: schemas and serving pitfalls."),
    ("serve", serve_cmd.serve, "Serve the REST API (127.0.0.1 by default)."),
    ("chart", chart_cmd.chart, "A Helm chart that installs KubeFoundry itself."),
):
    app.command(_name, short_help=_short)(_function)
app.add_typer(sandbox_cmds.app, name="sandbox", short_help="A local cluster with fake GPU nodes.")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"kubefoundry {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_print_version,
        help="Print the KubeFoundry version and exit.",
    ),
) -> None:
    """Plan, render and deploy open LLMs on Kubernetes, with every choice explained."""


@app.command("version")
def version() -> None:
    """Print the KubeFoundry version."""
    typer.echo(__version__)


def main() -> None:
    """The console script. Typer runs in standalone mode, so it reports usage errors itself
    (usage line, the mistake, exit 2) with whichever click it bundles; what reaches us is an
    error raised on purpose (exit 2) or a bug (exit 70)."""
    try:
        app(prog_name="kubefoundry")
    except KubeFoundryError as exc:
        output.error(exc)
        sys.exit(2)
    except Exception as exc:
        if os.environ.get("KUBEFOUNDRY_DEBUG"):
            raise
        output.error_text(
            f"internal error ({type(exc).__name__}: {exc}). This is a bug in KubeFoundry; "
            "run again with KUBEFOUNDRY_DEBUG=1 for the traceback and report it."
        )
        sys.exit(70)
