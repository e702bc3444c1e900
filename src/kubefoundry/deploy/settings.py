"""The server's settings: the Hugging Face token (to a Secret) and on-prem GPU prices.

The token goes to the cluster only, into a Secret the pods read (``cluster/secrets``, the
``token`` and ``HF_TOKEN`` keys the runtimes read); nothing here returns, logs or echoes
it, and a wrong token value is never part of an error. What the settings say about the
token is whether its Secret exists.

On-prem GPU prices ($ per GPU-hour, by GPU name) are what the planner prices GPUs at that
have no cloud price list, for later plans from this server (``rendering.plan(prices=…)``;
a price the spec gives still wins). They live in the ConfigMap ``kubefoundry-settings`` in
the server's namespace when a cluster is connected, so every server on that cluster plans
alike, and otherwise in ``$XDG_CONFIG_HOME/kubefoundry/settings.yaml`` (``~/.config`` by
default).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import yaml

from kubefoundry.catalog import gpus
from kubefoundry.cluster import configmaps, secrets
from kubefoundry.cluster.connecting import Connection
from kubefoundry.core import naming
from kubefoundry.core.errors import InvalidInputError, NotFoundError
from kubefoundry.core.spec import Problem, SpecError

CONFIGMAP = "kubefoundry-settings"
KEY = "settings.yaml"  # the ConfigMap's key, and the file's name: the same document
TOKEN_SECRET = "kubefoundry-hf-token"  # the Secret the settings write unless told another
TOKEN_KEY = "token"  # the key the runtimes read by default (TokenOptions.secret_key)
MAX_PRICE = 1_000.0  # $/GPU-hour; above it is a typo (cents, or a whole machine's price)


@dataclasses.dataclass(frozen=True)
class Stored:
    gpu_prices: dict[str, float]
    where: str  # "ConfigMap NS/kubefoundry-settings" or the file's path


class Store(Protocol):
    def load(self) -> Stored: ...

    def save_prices(self, prices: Mapping[str, float]) -> Stored: ...


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/kubefoundry``, ``~/.config/kubefoundry`` when it is not set."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kubefoundry"


@dataclasses.dataclass(frozen=True)
class FileStore:
    """The settings of a server with no cluster: a YAML file in the user's config folder."""

    path: Path

    def load(self) -> Stored:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return Stored({}, str(self.path))
        return Stored(_prices_in(text, where=str(self.path)), str(self.path))

    def save_prices(self, prices: Mapping[str, float]) -> Stored:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(_document(prices))
        return Stored(dict(prices), str(self.path))


@dataclasses.dataclass(frozen=True)
class ClusterStore:
    """The settings of a server with a cluster: ConfigMap ``kubefoundry-settings``."""

    conn: Connection
    namespace: str

    @property
    def where(self) -> str:
        return f"ConfigMap {self.namespace}/{CONFIGMAP}"

    def load(self) -> Stored:
        data = configmaps.read(self.conn, name=CONFIGMAP, namespace=self.namespace) or {}
        return Stored(_prices_in(data.get(KEY, ""), where=self.where), self.where)

    def save_prices(self, prices: Mapping[str, float]) -> Stored:
        configmaps.write(
            self.conn, name=CONFIGMAP, namespace=self.namespace, data={KEY: _document(prices)}
        )
        return Stored(dict(prices), self.where)


def store(conn: Connection | None, *, directory: Path | None = None) -> Store:
    """Where this server keeps its settings: the cluster's ConfigMap, else the file."""
    if conn is not None:
        return ClusterStore(conn, conn.namespace)
    return FileStore((directory or config_dir()) / KEY)


def _document(prices: Mapping[str, float]) -> str:
    return yaml.safe_dump({"gpu_prices": dict(sorted(prices.items()))}, sort_keys=False)


def _prices_in(text: str, *, where: str) -> dict[str, float]:
    """The prices a settings document holds; an unreadable one is an error naming it."""
    if not text.strip():
        return {}
    try:
        body = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInputError(
            f"The settings in {where} are not valid YAML: {exc}",
            hint="Fix or delete it, then PUT /api/v1/settings/gpu-prices again.",
        ) from None
    raw = (body or {}).get("gpu_prices") if isinstance(body, dict) else None
    if raw is None:
        return {}
    try:
        return validate_prices(raw)
    except SpecError as exc:
        raise InvalidInputError(
            f"The settings in {where} hold prices that no longer validate: {exc.message}",
            hint="PUT /api/v1/settings/gpu-prices with the prices you mean.",
        ) from None


def validate_prices(prices: Any) -> dict[str, float]:
    """``{GPU name: $/GPU-hour}`` with each name the GPU catalog's id; every problem at once
    (unknown names with close matches, prices that are not a number above 0)."""
    if not isinstance(prices, Mapping):
        raise SpecError(
            [Problem("", prices, "give a mapping of GPU name to $/GPU-hour, e.g. {L4: 0.55}")],
            where="GPU prices",
        )
    catalog, out, problems = gpus.load(), {}, []
    for name, price in prices.items():
        try:
            gpu_id = catalog.get(str(name)).id
        except NotFoundError as exc:
            problems.append(Problem(str(name), name, f"{exc.message} {exc.hint or ''}".strip()))
            continue
        if (
            isinstance(price, bool)
            or not isinstance(price, int | float)
            or not math.isfinite(price)
            or not 0 < price <= MAX_PRICE
        ):
            problems.append(
                Problem(
                    str(name), price, f"a price is $ per GPU-hour, above 0, at most {MAX_PRICE:g}"
                )
            )
            continue
        out[gpu_id] = float(price)
    if problems:
        raise SpecError(problems, where="GPU prices")
    return out


def put_token(
    conn: Connection, *, token: str, namespace: str, secret: str | None = None
) -> dict[str, str]:
    """Create or update the token Secret; what was done, never the token."""
    name = secret or TOKEN_SECRET
    problems = []
    if not token or any(c.isspace() for c in token) or len(token) > 1024:
        problems.append(
            Problem(
                "token",
                "<not shown>",
                "a Hugging Face token is one word of at most 1024 characters (hf_…)",
            )
        )
    if naming.dns_label(name) != name or len(name) > 253:
        problems.append(Problem("secret", name, "a Secret name is a DNS label (a-z, 0-9, -)"))
    if problems:
        raise SpecError(problems, where="token setting")
    action = secrets.ensure_token(conn, name=name, namespace=namespace, token=token, key=TOKEN_KEY)
    return {"secret": name, "namespace": namespace, "action": action}


def token_status(conn: Connection, *, namespace: str, secret: str | None = None) -> dict[str, Any]:
    """Whether the token Secret exists in ``namespace``, and every namespace that has it
    (``None`` when the user may not list Secrets across namespaces). Never its value."""
    name = secret or TOKEN_SECRET
    return {
        "secret": name,
        "namespace": namespace,
        "exists": secrets.exists(conn, name=name, namespace=namespace),
        "namespaces": secrets.namespaces_with(conn, name=name),
    }
