"""Reach a cluster the way kubectl does: ``--kubeconfig``, ``--context``, ``-n``.

The namespace defaults to the context's own, then ``default``. Every mistake in getting
there is a clear error naming the file or context and the fix: a kubeconfig that is missing,
unreadable, not YAML or not a kubeconfig; an unknown context (with close matches); a context
whose cluster or user is missing. Failures on the wire (refused, DNS, TLS, timeouts, 401) are
raised by the client itself (``cluster/transport.py``). Nothing here prints credentials.

Inside a pod (``kubefoundry serve`` installed by its chart) there is no kubeconfig: when
none is named or found and the pod's service-account token is mounted, the connection uses
that account (``kubectl`` does the same), re-reading the token as the kubelet rotates it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config, dynamic
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from kubefoundry.cluster import errors, transport
from kubefoundry.core import naming
from kubefoundry.core.errors import InvalidInputError, NotFoundError

DEFAULT_KUBECONFIG = Path.home() / ".kube" / "config"
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")  # in a pod


@dataclasses.dataclass(frozen=True)
class Target:
    kubeconfig: Path | None = None
    context: str | None = None
    namespace: str | None = None
    connect_timeout_s: float = transport.CONNECT_TIMEOUT_S


@dataclasses.dataclass
class Connection:
    api: transport.ApiClient
    namespace: str
    # What is stable for the connection's life, read once (``reading``: served kinds).
    kept: dict[str, tuple[float, Any]] = dataclasses.field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def endpoint(self) -> transport.Endpoint:
        return self.api.endpoint

    @property
    def context(self) -> str:
        return self.endpoint.context

    @property
    def server(self) -> str:
        return self.endpoint.server

    def dynamic(self) -> dynamic.DynamicClient:
        return dynamic.DynamicClient(self.api)

    def impersonating(
        self, user: str, *, groups: tuple[str, ...] = (), uid: str | None = None
    ) -> Connection:
        """A connection with this one's credentials that acts for ``user``: the API server
        authorizes each request as that user, so they see and change only what their RBAC
        allows. Its own connection pool; close it when done (the original stays open)."""
        api = transport.ApiClient(
            self.api.configuration,
            endpoint=self.api.endpoint,
            connect_timeout_s=self.api.connect_timeout_s,
            impersonate=transport.Impersonation(user=user, groups=tuple(groups), uid=uid),
        )
        return Connection(api=api, namespace=self.namespace)

    @property
    def user(self) -> str | None:
        """Whom this connection acts for, when it impersonates; None for its own identity."""
        who = self.api.impersonate
        return who.user if who else None

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def kubeconfig_path(target: Target) -> tuple[Path, str]:
    """The kubeconfig to read and where that choice came from (for messages)."""
    if target.kubeconfig:
        return target.kubeconfig, "--kubeconfig"
    env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    return (Path(env), "KUBECONFIG") if env else (DEFAULT_KUBECONFIG, "the default location")


def connect(target: Target, *, service_account: Path = SERVICE_ACCOUNT) -> Connection:
    """A client for ``target``; nothing is sent until the first request."""
    path, source = kubeconfig_path(target)
    if _in_pod(target, path, source, service_account):
        return _in_cluster(target, service_account)
    document = _read(path, source)
    chosen = _context(document, target.context, path)
    name = str(chosen["name"])
    configuration = client.Configuration()
    try:
        config.load_kube_config(
            config_file=str(path),
            context=name,
            client_configuration=configuration,
            persist_config=False,
        )
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"Cannot use context {name!r} of kubeconfig {path}: {exc}.",
            hint="Check the context's cluster and user entries (and the files they name) with "
            f"`kubectl config view --kubeconfig {path} --context {name}`.",
        ) from None
    endpoint = transport.Endpoint(
        server=configuration.host,
        context=name,
        kubeconfig=path,
        exec_command=_exec_command(document, chosen),
    )
    api = transport.ApiClient(
        configuration, endpoint=endpoint, connect_timeout_s=target.connect_timeout_s
    )
    namespace = target.namespace or (chosen.get("context") or {}).get("namespace") or "default"
    return Connection(api=api, namespace=str(namespace))


def _in_pod(target: Target, path: Path, source: str, account: Path) -> bool:
    """No kubeconfig named or found, and a pod's service account mounted: use that."""
    if target.context or source != "the default location" or path.exists():
        return False
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (account / "token").exists()


def _in_cluster(target: Target, account: Path) -> Connection:
    configuration = client.Configuration()
    loader = config.incluster_config.InClusterConfigLoader(
        token_filename=str(account / "token"), cert_filename=str(account / "ca.crt")
    )
    try:
        loader.load_and_set(configuration)
    except ConfigException as exc:
        raise InvalidInputError(
            f"Cannot use this pod's service account ({account}): {exc}.",
            hint="Mount the service-account token (automountServiceAccountToken: true), or "
            "pass --kubeconfig PATH.",
        ) from None
    endpoint = transport.Endpoint(
        server=configuration.host, context="in-cluster", kubeconfig=account
    )
    api = transport.ApiClient(
        configuration, endpoint=endpoint, connect_timeout_s=target.connect_timeout_s
    )
    own = account / "namespace"
    namespace = target.namespace or (own.read_text().strip() if own.exists() else "default")
    return Connection(api=api, namespace=namespace)


def probe(conn: Connection, *, timeout_s: float = 2.0) -> str:
    """The server's Kubernetes version (``/version``), or the error that says why it cannot
    be reached (``UnreachableError``, ``IdentityError`` from the transport). One short
    request, for a surface that shows whether its cluster answers."""
    try:
        info = client.VersionApi(conn.api).get_code(_request_timeout=timeout_s)
    except ApiException as exc:
        raise errors.translate(exc, verb="read", kind="version") from None
    return str(info.git_version)


def _read(path: Path, source: str) -> dict[str, Any]:
    if not path.exists():
        raise InvalidInputError(
            f"No kubeconfig at {path} ({source}).",
            hint="Pass --kubeconfig PATH, set KUBECONFIG, or start a local sandbox with "
            "`kubefoundry sandbox up` and use the kubeconfig it prints.",
        )
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInputError(
            f"Cannot read kubeconfig {path}: {exc.strerror or type(exc).__name__}.",
            hint="Pass the path of a kubeconfig file you may read (--kubeconfig PATH).",
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise InvalidInputError(
            f"Kubeconfig {path} is not valid YAML{line}.",
            hint=f"Check the file with `kubectl config view --kubeconfig {path}`, or fetch a "
            "fresh one from your cluster.",
        ) from None
    if not isinstance(document, dict) or not document:
        raise InvalidInputError(
            f"{path} is not a kubeconfig (it holds no clusters, contexts and users).",
            hint="Pass --kubeconfig with the file your cluster's tooling wrote (kubectl "
            "reads the same file).",
        )
    return document


def _context(document: dict[str, Any], wanted: str | None, path: Path) -> dict[str, Any]:
    contexts = [c for c in document.get("contexts") or [] if isinstance(c, dict)]
    names = [str(c.get("name")) for c in contexts]
    if not contexts:
        raise InvalidInputError(
            f"Kubeconfig {path} has no contexts.",
            hint="Add one with `kubectl config set-context`, or use the kubeconfig your "
            "cluster's tooling wrote.",
        )
    name = wanted if wanted is not None else document.get("current-context")
    if not name:
        raise InvalidInputError(
            f"Kubeconfig {path} has no current context.",
            hint=f"Pass --context NAME; it has: {', '.join(names)}.",
        )
    for ctx in contexts:
        if ctx.get("name") == name:
            return ctx
    has = f"{naming.counted(len(names), 'context')}: {', '.join(names)}"
    broken = wanted is None  # the file's own current-context names nothing
    raise NotFoundError(
        kind="kubeconfig context",
        name=str(name),
        suggestions=naming.suggest(str(name), names),
        hint=(
            f"The current-context of {path} names no context; it has {has}."
            if broken
            else f"{path} has {has}."
        )
        + " Pass --context with one of them.",
    )


def _exec_command(document: dict[str, Any], context: dict[str, Any]) -> str | None:
    user = (context.get("context") or {}).get("user")
    for entry in document.get("users") or []:
        if isinstance(entry, dict) and entry.get("name") == user:
            plugin = (entry.get("user") or {}).get("exec") or {}
            command = plugin.get("command")  # its arguments may carry secrets: not shown
            return str(command) if command else None
    return None
