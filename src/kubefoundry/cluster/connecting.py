"""Reach a cluster the way kubectl does: ``--kubeconfig``, ``--context``, ``-n``.

The namespace defaults to the context's own, then ``default``. Every mistake in getting
there is a clear error naming the file or context and the fix: a kubeconfig that is missing,
unreadable, not YAML or not a kubeconfig; an unknown context (with close matches); a context
whose cluster or user is missing. Failures on the wire (refused, DNS, TLS, timeouts, 401) are
raised by the client itself (``cluster/transport.py``). Nothing here prints credentials.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config, dynamic
from kubernetes.config.config_exception import ConfigException

from kubefoundry.cluster import transport
from kubefoundry.core import naming
from kubefoundry.core.errors import InvalidInputError, NotFoundError

DEFAULT_KUBECONFIG = Path.home() / ".kube" / "config"


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


def connect(target: Target) -> Connection:
    """A client for ``target``; nothing is sent until the first request."""
    path, source = kubeconfig_path(target)
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
