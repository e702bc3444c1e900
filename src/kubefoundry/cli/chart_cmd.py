"""``kubefoundry chart``: the Helm chart that installs KubeFoundry itself in a cluster.

The chart runs the server with ``--auth kubernetes`` (users sign in with their own token and
are acted for by impersonation) under a least-privilege ClusterRole derived from what the
product does (``deploy/installing.py``, ``docs/security.md``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def chart(
    out: Annotated[
        Path,
        typer.Option("--output", "-o", metavar="DIR", help="Directory to write the chart in."),
    ] = Path("kubefoundry-chart"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite files in -o DIR.")] = False,
) -> None:
    """Write the Helm chart that installs KubeFoundry in a cluster."""
    from kubefoundry.cli import output
    from kubefoundry.deploy import installing

    written = installing.write(out, overwrite=force)
    err = output.stderr()
    err.print(f"Wrote {len(written)} files to {out}/. Install it with:")
    err.print(
        f"  helm install kubefoundry {out} -n kubefoundry --create-namespace "
        "--set image.repository=REGISTRY/kubefoundry",
        soft_wrap=True,
    )
    err.print("No image is published: build one from the repository's Containerfile.")
