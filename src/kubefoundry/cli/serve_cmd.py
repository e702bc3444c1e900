"""``kubefoundry serve``: the web pages and the REST API on this machine, or in a cluster.

Binds to 127.0.0.1 unless ``--host`` says otherwise. Bound to any other address it never runs
open (``--auth none`` is refused there):

- ``--auth token`` (the default off loopback) wants one bearer token, ``--token`` /
  ``KUBEFOUNDRY_TOKEN`` or one it makes and prints once on start (the only place it appears);
- ``--auth kubernetes`` wants each user's own Kubernetes token and acts for them by
  impersonation (how the chart from ``kubefoundry chart`` runs it).

Browsers sign in at ``/login`` with the same token (``api/auth.py``).
"""

from __future__ import annotations

import enum
import ipaddress
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from kubefoundry.cluster.connecting import Target

LOOPBACK = "127.0.0.1"


class Auth(enum.StrEnum):
    NONE = "none"
    TOKEN = "token"
    KUBERNETES = "kubernetes"


def serve(
    host: Annotated[
        str,
        typer.Option("--host", help="Address to listen on (anything but loopback needs --auth)."),
    ] = LOOPBACK,
    port: Annotated[
        int, typer.Option("--port", envvar="KUBEFOUNDRY_PORT", min=1, max=65535, help="Port.")
    ] = 8080,
    auth: Annotated[
        Auth | None,
        typer.Option(
            "--auth",
            help="none (loopback only), token, or kubernetes: users' own tokens, acted "
            "for by impersonation. Default: none on loopback, token otherwise.",
            show_default=False,
            case_sensitive=False,
        ),
    ] = None,
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
    """Serve the web pages and the REST API (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from kubefoundry.api.app import create_app
    from kubefoundry.cli import output

    err = output.stderr()
    mode = _mode(auth, host=host, token=token, no_cluster=no_cluster)
    if mode is Auth.TOKEN and token is None:
        token = secrets.token_urlsafe(32)
        err.print(f"Listening on {host}: requests need  Authorization: Bearer {token}")
    where = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    err.print(f"KubeFoundry on {where} (OpenAPI: {where}/openapi.json, docs: {where}/docs)")
    if mode is Auth.KUBERNETES:
        err.print(f"Users sign in with their own Kubernetes token ({where}/login).")
    from kubefoundry.cluster.connecting import Target

    cluster = None if no_cluster else Target(kubeconfig=kubeconfig, context=context)
    _say_no_cluster(err, cluster)
    app = create_app(
        token=token if mode is Auth.TOKEN else None,
        cluster=cluster,
        auth_mode=mode.value,  # the app's auth.Mode by value: the CLI imports only the app
    )
    # Open pages hold event streams; Ctrl-C closes them after 5 s instead of waiting forever.
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)


def _mode(auth: Auth | None, *, host: str, token: str | None, no_cluster: bool) -> Auth:
    """The mode asked for, or the default; a combination that cannot be safe is a usage
    error naming the flag (exit 2)."""
    if auth is None:
        return Auth.TOKEN if token is not None or not _loopback(host) else Auth.NONE
    if auth is Auth.NONE and not _loopback(host):
        raise typer.BadParameter(
            f"--auth none serves anyone who reaches {host}; it is for loopback only. Use "
            "--auth token (a shared token) or --auth kubernetes (users' own tokens).",
            param_hint="--auth",
        )
    if auth is Auth.NONE and token is not None:
        raise typer.BadParameter("--token wants --auth token (or no --auth).", param_hint="--auth")
    if auth is Auth.KUBERNETES and no_cluster:
        raise typer.BadParameter(
            "--auth kubernetes checks tokens with the cluster; drop --no-cluster.",
            param_hint="--auth",
        )
    if auth is Auth.KUBERNETES and token is not None:
        raise typer.BadParameter(
            "--auth kubernetes takes each user's own token; drop --token (or unset "
            "KUBEFOUNDRY_TOKEN).",
            param_hint="--auth",
        )
    return auth


def _say_no_cluster(err: Console, cluster: Target | None) -> None:
    """Without a cluster the pages still plan and render; say how to get one to deploy to."""
    import os

    from kubefoundry.cluster import connecting

    if cluster is None:
        err.print("No cluster (--no-cluster): the catalog, plans and YAML previews only.")
        return
    path, source = connecting.kubeconfig_path(cluster)
    if path.exists() or os.environ.get("KUBERNETES_SERVICE_HOST"):  # a pod uses its account
        return
    err.print(
        f"No kubeconfig at {path} ({source}): the catalog, plans and YAML previews work. To "
        "deploy, start the sandbox from the page (a local cluster with simulated GPU nodes), "
        "or restart with --kubeconfig PATH.",
        soft_wrap=True,
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
