"""Start, probe and stop the sandbox's processes: detached, logging to files, by pid.

Each process runs in a session of its own (``start_new_session``), so it outlives the command
that started it and a Ctrl-C in that terminal does not reach it. Stopping sends SIGTERM, then
SIGKILL after a grace period, and only to a pid that still runs the binary it was started
from (a pid the kernel has reused since is left alone). Health is probed over plain HTTP(S)
on loopback (etcd's ``/health``, the components' ``/healthz`` and ``/readyz``): these are the
processes' own endpoints, not the Kubernetes API, which only ``cluster/`` talks to.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kubefoundry.core.errors import PermanentError

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class StartError(PermanentError):
    """A process died or did not become healthy; the message carries its log's tail."""


@dataclasses.dataclass(frozen=True)
class Process:
    name: str
    pid: int
    binary: str
    log: Path
    # The Popen handle where this process started the child (reaped on stop); absent when
    # the state was read back from a file by a later command.
    handle: subprocess.Popen[bytes] | None = dataclasses.field(
        default=None, compare=False, repr=False
    )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "pid": self.pid, "binary": self.binary, "log": str(self.log)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Process:
        return cls(str(data["name"]), int(data["pid"]), str(data["binary"]), Path(data["log"]))


def start(
    name: str,
    argv: Sequence[str | Path],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    outlive_parent: bool = True,
) -> Process:
    """Run ``argv`` detached, stdout and stderr appended to ``log``, ``env`` added.

    ``outlive_parent=False`` (the test suite's): the process gets SIGTERM when the process
    that started it dies, even by SIGKILL, so a killed test run leaves nothing behind (Linux;
    elsewhere the teardown alone stops it).
    """
    with log.open("ab") as out:
        handle = subprocess.Popen(
            [os.fspath(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            preexec_fn=None if outlive_parent else die_with_parent,
        )
    return Process(name, handle.pid, os.fspath(argv[0]), log, handle)


def die_with_parent() -> None:
    """In the child, before exec: ask Linux for SIGTERM when the parent dies."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def alive(proc: Process) -> bool:
    """Whether ``proc`` still runs (and its pid was not reused for another program)."""
    if proc.handle is not None:
        return proc.handle.poll() is None
    try:
        os.kill(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process now holds that pid
    return _runs(proc)


def _runs(proc: Process) -> bool:
    """The pid runs ``proc.binary`` and is not a zombie (Linux /proc; elsewhere: assume so)."""
    try:
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")[0]
        state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return not Path("/proc/self").exists()
    return cmdline.decode(errors="replace") == proc.binary and state != "Z"


def stop(proc: Process, *, grace_s: float = 20.0) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``; a process already gone is fine."""
    if not alive(proc):
        _reap(proc)
        return
    _signal(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not alive(proc):
            _reap(proc)
            return
        time.sleep(0.1)
    _signal(proc, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive(proc) and time.monotonic() < deadline:
        time.sleep(0.1)
    _reap(proc)


def _signal(proc: Process, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)


def _reap(proc: Process) -> None:
    if proc.handle is not None:
        proc.handle.wait()


def wait_healthy(
    url: str,
    *,
    proc: Process,
    timeout_s: float,
    token: str | None = None,
    ca_file: Path | None = None,
) -> None:
    """Poll ``url`` until it answers 200; fail with the log's tail if ``proc`` dies first.

    HTTPS is verified against ``ca_file`` when given (the API server's own certificate);
    otherwise a component's self-signed loopback certificate is accepted unverified.
    """
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    while time.monotonic() < deadline:
        if not alive(proc):
            raise StartError(
                f"{proc.name} exited while starting; the end of {proc.log}:\n{tail(proc.log)}"
            )
        if ca_file is not None and not ca_file.exists():  # written by the server as it starts
            time.sleep(0.2)
            continue
        request = urllib.request.Request(url)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=5, context=_tls(ca_file)) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = str(exc)
        time.sleep(0.2)
    raise StartError(
        f"{proc.name} not healthy at {url} after {timeout_s:.0f}s ({last}); the end of "
        f"{proc.log}:\n{tail(proc.log)}"
    )


def _tls(ca_file: Path | None) -> ssl.SSLContext:
    if ca_file is not None:
        return ssl.create_default_context(cafile=os.fspath(ca_file))
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a component's own self-signed cert, on loopback
    return context


def tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# Below Linux's ephemeral range (32768-60999): a port the kernel picks for ``bind(0)`` comes
# from that range, which every outgoing connection on the machine also draws its local port
# from, so one handed out there can be taken before the process it was meant for binds it
# (seen: LWS's webhook port taken while another sandbox started). Ports here are only taken
# by someone binding them on purpose.
PORT_RANGE = (20000, 32000)


def free_ports(count: int, *, pick: random.Random | None = None) -> list[int]:
    """Ports free now, outside the ephemeral range (held together so they differ)."""
    pick = pick or random.Random()
    sockets: list[socket.socket] = []
    try:
        while len(sockets) < count:
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", pick.randrange(*PORT_RANGE)))
            except OSError:
                s.close()
                continue
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
