"""``kubefoundry sandbox up|down|status``: a local cluster with simulated GPU nodes.

``up`` builds what is missing (minutes, once), starts it, waits until it is ready, prints the
kubeconfig path on stdout (progress goes to stderr) and returns, leaving it running; run
again, it says the sandbox is already up and prints the same path. ``down`` stops it and
deletes its files; run again, it says there was nothing to stop.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kubefoundry.cli import output

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

app = typer.Typer(
    name="sandbox",
    help="A local Kubernetes cluster with simulated GPU node pools, to try deploys on.",
    no_args_is_help=True,
)


@app.command("up")
def up(
    kubeconfig: Annotated[
        Path | None,
        typer.Option("--kubeconfig", help="Also write the sandbox's kubeconfig to this path."),
    ] = None,
    crds: Annotated[
        list[Path] | None,
        typer.Option(
            "--crds",
            help="A folder of CRDs to install (repeatable) [default: $KUBEFOUNDRY_CRDS, else "
            "the CRDs packaged with KubeFoundry].",
        ),
    ] = None,
) -> None:
    """Build (once), start and wait for the sandbox; print its kubeconfig path."""
    from rich.text import Text

    from kubefoundry.sandbox import managing

    err = output.stderr()
    progress = _Progress(err)
    spinner = err.status("Preparing the sandbox…") if err.is_terminal else contextlib.nullcontext()
    with spinner as status:
        progress.status = status
        done = managing.up(
            kubeconfig=kubeconfig,
            crds=crds or (),
            on_build_output=progress.build_line,
            say=progress.say,
        )
    if done.already:
        err.print(
            Text.assemble(("The sandbox is already up", "bold"), f" ({done.sandbox.server}).")
        )
    else:
        err.print(
            Text.assemble(
                ("Sandbox up", "bold green"),
                f" in {time.monotonic() - progress.started:.0f}s: {done.sandbox.server}, "
                f"{_pools_line()}.",
            )
        )
        if done.sandbox.prometheus:
            err.print(
                f"Prometheus: {done.sandbox.prometheus} (KEDA scales on it: add "
                f"--prometheus {done.sandbox.prometheus} to deploy)",
                soft_wrap=True,
            )
        err.print(
            f"Try: kubefoundry deploy qwen2.5-7b --kubeconfig {done.kubeconfig}\n"
            "Stop it with: kubefoundry sandbox down",
            soft_wrap=True,
        )
    print(done.kubeconfig)


@app.command("down")
def down() -> None:
    """Stop the sandbox and delete its files (nothing to do if it is not up)."""
    from rich.text import Text

    from kubefoundry.sandbox import managing

    stopped = managing.down()
    err = output.stderr()
    if stopped is None:
        err.print("No sandbox is running; nothing to stop.")
    else:
        err.print(Text.assemble(("Sandbox stopped", "bold"), f" and {stopped.workdir} removed."))


@app.command("status")
def status(
    fmt: output.OutputFormat = None,
) -> None:
    """Whether the sandbox is up, its kubeconfig and its processes."""
    from rich.table import Table

    from kubefoundry.sandbox import managing

    state = managing.status()
    if output.data(state, fmt):
        return
    console = output.console()
    if state["state"] == "down":
        console.print("The sandbox is down. Start it with `kubefoundry sandbox up`.")
        return
    console.print(f"The sandbox is [bold]{state['state']}[/]: {state['server']}")
    console.print(f"kubeconfig: {state['kubeconfig']}", soft_wrap=True)
    if state.get("prometheus"):
        console.print(
            f"Prometheus: {state['prometheus']} (deploy with --prometheus "
            f"{state['prometheus']} to scale on it)",
            soft_wrap=True,
        )
    table = Table()
    for column in ("process", "pid", "running"):
        table.add_column(column)
    for name, proc in state["processes"].items():
        table.add_row(name, str(proc["pid"]), "yes" if proc["running"] else "no")
    console.print(table)
    logs = {str(Path(p["log"]).parent) for p in state["processes"].values()}
    console.print(f"logs: {', '.join(sorted(logs))}", soft_wrap=True)
    if state["state"] != "up":
        raise typer.Exit(1)


def _pools_line() -> str:
    from kubefoundry.core.naming import counted
    from kubefoundry.sandbox import pools

    return ", ".join(
        f"{p.nodes} × {p.gpus_per_node} {p.gpu}" if p.gpu else counted(p.nodes, "CPU node")
        for p in pools.DEFAULT_POOLS
    )


class _Progress:
    """The build and the start as they go: a spinner on a terminal, plain lines elsewhere.

    ``go build -v`` names each package it compiles; those become a running count (a line
    every few hundred without a terminal); the build script's own messages are printed.
    """

    EVERY = 250  # packages between two lines without a terminal

    def __init__(self, console: Console) -> None:
        self.console = console
        self.status: Status | None = None
        self.packages = 0
        self.started = time.monotonic()

    def build_line(self, line: str) -> None:
        from rich.text import Text

        from kubefoundry.sandbox import building

        if not building.is_package(line):
            if line.strip():
                self.console.print(Text(line.removeprefix("scripts/testcluster-build: ")))
            return
        self.packages += 1
        minutes, seconds = divmod(int(time.monotonic() - self.started), 60)
        text = (
            f"Building the control plane and kwok from Go modules (first run only; several "
            f"minutes): {self.packages} packages compiled in {minutes}:{seconds:02d}"
        )
        if self.status is not None:
            self.status.update(text + "…")
        elif self.packages % self.EVERY == 0:
            self.console.print(text)

    def say(self, line: str) -> None:
        if self.status is not None:
            self.status.update(f"Starting the sandbox: {line}…")
        else:
            self.console.print(f"sandbox: {line}")
