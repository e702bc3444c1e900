"""Reach a cluster the way kubectl does: ``--kubeconfig``, ``--context``, ``-n``.

The namespace defaults to the context's own, then ``default``. Nothing here prints
credentials; a kubeconfig that cannot be read is a clear error naming the file.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from kubernetes import client, config, dynamic
from kubernetes.config.config_exception import ConfigException

from kubefoundry.core.errors import InvalidInputError

DEFAULT_KUBECONFIG = Path.home() / ".kube" / "config"


@dataclasses.dataclass(frozen=True)
class Target:
    kubeconfig: Path | None = None
    context: str | None = None
    namespace: str | None = None


@dataclasses.dataclass
class Connection:
    api: client.ApiClient
    namespace: str
    context: str
    server: str

    def dynamic(self) -> dynamic.DynamicClient:
        return dynamic.DynamicClient(self.api)

    def close(self) -> None:
        self.api.close()


def kubeconfig_path(target: Target) -> Path:
    if target.kubeconfig:
        return target.kubeconfig
    env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    return Path(env) if env else DEFAULT_KUBECONFIG


def connect(target: Target) -> Connection:
    path = kubeconfig_path(target)
    if not path.exists():
        raise InvalidInputError(
            f"No kubeconfig at {path}.",
            hint="Pass --kubeconfig PATH, set KUBECONFIG, or start a local sandbox with "
            "`kubefoundry sandbox up` and use the kubeconfig it prints.",
        )
    try:
        contexts, current = config.list_kube_config_contexts(config_file=str(path))
        chosen = _context(contexts, current, target.context, path)
        api = config.new_client_from_config(config_file=str(path), context=chosen["name"])
    except ConfigException as exc:
        raise InvalidInputError(
            f"Cannot use kubeconfig {path}: {exc}.",
            hint="Check the file with `kubectl config view --kubeconfig PATH`.",
        ) from None
    namespace = target.namespace or chosen.get("context", {}).get("namespace") or "default"
    return Connection(
        api=api, namespace=namespace, context=str(chosen["name"]), server=api.configuration.host
    )


def _context(
    contexts: list[dict[str, Any]],
    current: dict[str, Any] | None,
    wanted: str | None,
    path: Path,
) -> dict[str, Any]:
    if wanted is None:
        if current is None:
            raise InvalidInputError(f"{path} has no current context.", hint="Pass --context NAME.")
        return current
    for ctx in contexts:
        if ctx.get("name") == wanted:
            return ctx
    names = ", ".join(str(c.get("name")) for c in contexts)
    raise InvalidInputError(f"No context {wanted!r} in {path}.", hint=f"Contexts: {names}.")
