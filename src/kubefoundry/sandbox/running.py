"""A running sandbox as a state file (``sandbox.json``: pids, server, kubeconfig), and stop.

``starting.start`` writes the state file in the sandbox's folder as soon as processes run,
so a later command (``kubefoundry sandbox down``) can read it back and stop them. The user's
sandbox lives in ``${XDG_STATE_HOME:-~/.local/state}/kubefoundry/sandbox``; the test suite's
in a temporary folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
from collections.abc import Sequence
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from kubefoundry.core.errors import InvalidInputError
from kubefoundry.sandbox import components, model_servers, processes

STATE_FILE = "sandbox.json"
STATE_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Sandbox:
    workdir: Path
    server: str  # https://127.0.0.1:PORT
    token: str  # the admin user's bearer token (also in the kubeconfig)
    ca_file: Path  # the API server's self-signed serving certificate
    kubeconfig: Path
    processes: tuple[processes.Process, ...]
    nodes: tuple[str, ...]
    copies: tuple[Path, ...] = ()  # kubeconfigs also written where the user asked
    prometheus: str | None = None  # http://127.0.0.1:PORT: what KEDA's scaler should query

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "workdir": str(self.workdir),
            "server": self.server,
            "token": self.token,
            "ca_file": str(self.ca_file),
            "kubeconfig": str(self.kubeconfig),
            "processes": [p.to_dict() for p in self.processes],
            "nodes": list(self.nodes),
            "copies": [str(c) for c in self.copies],
            "prometheus": self.prometheus,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sandbox:
        return cls(
            workdir=Path(data["workdir"]),
            server=str(data["server"]),
            token=str(data["token"]),
            ca_file=Path(data["ca_file"]),
            kubeconfig=Path(data["kubeconfig"]),
            processes=tuple(processes.Process.from_dict(p) for p in data["processes"]),
            nodes=tuple(data["nodes"]),
            copies=tuple(Path(c) for c in data.get("copies", [])),
            prometheus=data.get("prometheus"),
        )

    def running(self) -> list[str]:
        return [p.name for p in self.processes if processes.alive(p)]


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "kubefoundry" / "sandbox"


def crd_files(dirs: Sequence[Traversable]) -> list[Path]:
    """Every CRD file under ``dirs``: one CRD per file, named ``<plural>.<group>.yaml``.

    ``dirs`` are folders or the CRDs packaged with KubeFoundry (``checks/data/crds``), which
    an installed package keeps as files on disk; the API server is given their text.
    """
    hint = (
        "Pass --crds DIR (repeatable), or set KUBEFOUNDRY_CRDS, pointing at the CRDs to "
        "install (by default, the copies packaged with KubeFoundry)."
    )
    folders = [d for d in dirs if isinstance(d, Path)]
    if len(folders) < len(dirs):
        raise InvalidInputError(
            "The packaged CRDs are not files on disk (a zipped install).", hint=hint
        )
    files = sorted(p for d in folders for p in d.rglob("*.yaml") if p.stem.count(".") >= 1)
    if not files:
        where = ", ".join(str(d) for d in dirs) or "(no folder found)"
        raise InvalidInputError(f"No CRD files (<plural>.<group>.yaml) under {where}.", hint=hint)
    return files


def stop(sandbox: Sandbox) -> None:
    """Stop every process, newest first (the model servers, kwok ... etcd); then remove any
    network namespace of this sandbox's model servers that a killed run left."""
    for proc in reversed(sandbox.processes):
        processes.stop(proc)
    if any(proc.name == "model-servers" for proc in sandbox.processes):
        model_servers.sweep(components.model_servers_prefix(components.Layout(sandbox.workdir)))


def load(workdir: Path) -> Sandbox | None:
    path = workdir / STATE_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        return None  # a state file cut short: nothing reliable to stop
    if data.get("version") != STATE_VERSION:
        return None
    return Sandbox.from_dict(data)


def write_state(sandbox: Sandbox) -> None:
    path = sandbox.workdir / STATE_FILE
    staging = path.with_suffix(".tmp")
    staging.write_text(json.dumps(sandbox.to_dict(), indent=2) + "\n")
    staging.chmod(0o600)
    staging.replace(path)


def remove(sandbox: Sandbox) -> None:
    """Delete the sandbox's folder and the kubeconfig copies it wrote (if unchanged)."""
    for copy in sandbox.copies:
        with contextlib.suppress(OSError):
            if copy.read_text() == sandbox.kubeconfig.read_text():
                copy.unlink()
    shutil.rmtree(sandbox.workdir, ignore_errors=True)
