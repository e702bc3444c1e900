"""The user's sandbox: ``up`` (idempotent), ``down`` (idempotent), ``status``.

One sandbox per user, in ``running.state_dir()``; a lock file keeps two ``up`` commands from
starting two. ``up`` finds a running sandbox and says so; a sandbox whose processes died (a
reboot) is cleaned up and started afresh.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from kubefoundry.checks import schemas
from kubefoundry.sandbox import building, pools, processes, running, starting

Say = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class Up:
    sandbox: running.Sandbox
    already: bool  # it was running before this call
    kubeconfig: Path  # the path to give users (the one they asked for, else the sandbox's)


def up(
    *,
    kubeconfig: Path | None = None,
    crds: Sequence[Path] = (),
    node_pools: Sequence[pools.Pool] = pools.DEFAULT_POOLS,
    on_build_output: Say | None = None,
    say: Say = lambda _: None,
) -> Up:
    workdir = running.state_dir()
    with _locked(workdir):
        existing = running.load(workdir)
        if existing is not None and _healthy(existing):
            return _already(existing, kubeconfig)
        if existing is not None:
            say("a previous sandbox is not running any more; cleaning it up")
            running.stop(existing)
            running.remove(existing)
        shutil.rmtree(workdir, ignore_errors=True)  # leftovers of a start cut short
        binaries = building.build(on_output=on_build_output)
        files = running.crd_files(list(crds) or schemas.default_crd_dirs())
        sandbox = starting.start(
            binaries, workdir=workdir, crds=files, node_pools=node_pools, say=say
        )
        if kubeconfig is not None:
            sandbox = _copy(sandbox, kubeconfig)
        return Up(sandbox, already=False, kubeconfig=kubeconfig or sandbox.kubeconfig)


def _already(sandbox: running.Sandbox, kubeconfig: Path | None) -> Up:
    if kubeconfig is not None and kubeconfig.resolve() != sandbox.kubeconfig.resolve():
        sandbox = _copy(sandbox, kubeconfig)
    return Up(sandbox, already=True, kubeconfig=kubeconfig or sandbox.kubeconfig)


def _copy(sandbox: running.Sandbox, path: Path) -> running.Sandbox:
    path = path.expanduser().absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sandbox.kubeconfig.read_text())
    path.chmod(0o600)
    if path in sandbox.copies:
        return sandbox
    sandbox = dataclasses.replace(sandbox, copies=(*sandbox.copies, path))
    running.write_state(sandbox)
    return sandbox


def _healthy(sandbox: running.Sandbox) -> bool:
    if sorted(sandbox.running()) != sorted(p.name for p in sandbox.processes):
        return False
    api = next(p for p in sandbox.processes if p.name == "kube-apiserver")
    try:
        processes.wait_healthy(
            f"{sandbox.server}/readyz",
            proc=api,
            timeout_s=10,
            token=sandbox.token,
            ca_file=sandbox.ca_file,
        )
    except processes.StartError:
        return False
    return True


def down() -> running.Sandbox | None:
    """Stop the sandbox and delete its folder; the sandbox that was stopped, if any."""
    workdir = running.state_dir()
    with _locked(workdir):
        existing = running.load(workdir)
        if existing is not None:
            running.stop(existing)
            running.remove(existing)
        shutil.rmtree(workdir, ignore_errors=True)
        return existing


def status() -> dict[str, Any]:
    existing = running.load(running.state_dir())
    if existing is None:
        return {"state": "down"}
    alive = set(existing.running())
    everything = {p.name for p in existing.processes}
    return {
        "state": "up" if alive == everything else ("stopped" if not alive else "broken"),
        "kubeconfig": str(existing.kubeconfig),
        "copies": [str(c) for c in existing.copies],
        "server": existing.server,
        "prometheus": existing.prometheus,
        "processes": {
            p.name: {"pid": p.pid, "running": p.name in alive, "log": str(p.log)}
            for p in existing.processes
        },
        "nodes": list(existing.nodes),
    }


@contextlib.contextmanager
def _locked(workdir: Path) -> Iterator[None]:
    workdir.parent.mkdir(parents=True, exist_ok=True)
    with (workdir.parent / "sandbox.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
