"""``kubefoundry serve``: the REST API on this machine (the web pages come with issue 10).

Binds to 127.0.0.1 unless ``--host`` says otherwise. Bound to any other address it never runs
open: it wants a bearer token, ``--token``/``KUBEFOUNDRY_TOKEN`` or one it makes and prints
once on start (the only place it appears).
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Annotated

import typer

LOOPBACK = "127.0.0.1"


def serve(
    host: Annotated[
        str,
        typer.Option("--host", help="Address to listen on (anything but loopback needs a token)."),
    ] = LOOPBACK,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8080,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="KUBEFOUNDRY_TOKEN",
            help="Bearer token the API wants (default: none on loopback, a new one otherwise).",
            show_default=False,
        ),
    ] = None,
    kubeconfig: Annotated[
        Path | None,
        typer.Option("--kubeconfig", help="Cluster the deployment routes act on."),
    ] = None,
    context: Annotated[str | None, typer.Option("--context", help="Kubeconfig context.")] = None,
    no_cluster: Annotated[
        bool, typer.Option("--no-cluster", help="Catalog, plan and render only.")
    ] = False,
) -> None:
    """Serve the REST API (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from kubefoundry.api.app import create_app
    from kubefoundry.cli import output

    err = output.stderr()
    if token is None and not _loopback(host):
        token = secrets.token_urlsafe(32)
        err.print(f"Listening on {host}: requests need  Authorization: Bearer {token}")
    where = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    err.print(f"KubeFoundry API on {where} (OpenAPI: {where}/openapi.json, docs: {where}/docs)")
    from kubefoundry.cluster.connecting import Target

    cluster = None if no_cluster else Target(kubeconfig=kubeconfig, context=context)
    app = create_app(token=token, cluster=cluster)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
