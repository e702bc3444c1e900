"""The ``kubefoundry`` command: a thin Typer shell over catalog and planning.

Every command builds its inputs, calls one function of the layers below and prints the
result as a Rich table or, with ``--json``, one JSON object. Errors raised on purpose
(:class:`KubeFoundryError`) print their message and fix and exit with code 2, never a
traceback.
"""

from __future__ import annotations

import os
import sys

import typer

from kubefoundry import __version__
from kubefoundry.cli import (
    catalog_cmds,
    check_cmd,
    cluster_cmds,
    estimate_cmd,
    output,
    plan_cmd,
    render_cmd,
    runtimes_cmd,
    sandbox_cmds,
)
from kubefoundry.core.errors import KubeFoundryError

app = typer.Typer(
    name="kubefoundry",
    help="Plan, render and deploy open LLMs on Kubernetes, with every choice explained.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("catalog")(catalog_cmds.catalog)
app.command("gpus")(catalog_cmds.gpus)
app.command("plan")(plan_cmd.plan)
app.command("render")(render_cmd.render)
app.command("estimate")(estimate_cmd.estimate)
app.command("runtimes")(runtimes_cmd.runtimes)
app.command("cluster")(cluster_cmds.cluster)
app.command("deploy")(cluster_cmds.deploy)
app.command("ls")(cluster_cmds.ls)
app.command("status")(cluster_cmds.status)
app.command("logs")(cluster_cmds.logs)
app.command("delete")(cluster_cmds.delete)
app.command("check")(check_cmd.check)
app.add_typer(sandbox_cmds.app, name="sandbox")


@app.command("version")
def version() -> None:
    """Print the KubeFoundry version."""
    typer.echo(__version__)


def main() -> None:
    try:
        # Without standalone mode click returns typer.Exit's code instead of exiting.
        code = app(standalone_mode=False)
    except KubeFoundryError as exc:
        output.error(exc)
        sys.exit(2)
    except typer.Abort:
        output.error_text("Aborted.")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors and friends
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if os.environ.get("KUBEFOUNDRY_DEBUG"):
            raise
        output.error_text(
            f"internal error ({type(exc).__name__}: {exc}). This is a bug in KubeFoundry; "
            "run again with KUBEFOUNDRY_DEBUG=1 for the traceback and report it."
        )
        sys.exit(70)
    sys.exit(code if isinstance(code, int) else 0)
