"""A real kube-apiserver and etcd on loopback ports, started from the binary that
``scripts/testcluster-build`` builds (hack/testcluster), for the integration tests.

Authentication is a static bearer token for an ``admin`` user in ``system:masters``; the
API server generates its own self-signed serving certificate in ``--cert-dir`` and the
kubeconfig trusts exactly that certificate. Everything lives in one temporary folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent.parent
BUILD = REPO / "scripts" / "testcluster-build"


class ControlPlaneError(RuntimeError):
    """The control plane could not be built or did not come up; the message says where to look."""


@dataclasses.dataclass(frozen=True)
class ControlPlane:
    server: str  # https://127.0.0.1:PORT
    token: str
    ca_file: Path  # the API server's self-signed serving certificate
    kubeconfig: Path
    workdir: Path


def build() -> Path:
    """Build the binary, or reuse the cached one; its path."""
    result = subprocess.run([BUILD], stdout=subprocess.PIPE, text=True, check=False)
    if result.returncode != 0:
        raise ControlPlaneError(f"{BUILD} failed (exit {result.returncode}); see its output above")
    return Path(result.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def running(binary: Path, workdir: Path, *, timeout: float = 120.0) -> Iterator[ControlPlane]:
    """etcd and kube-apiserver, ready (``/readyz``) on free loopback ports; stopped on exit."""
    etcd_port, peer_port, api_port = _free_ports(3)
    token = secrets.token_hex(16)
    (workdir / "tokens.csv").write_text(f"{token},admin,admin,system:masters\n")
    subprocess.run([binary, "keygen", workdir / "sa.key"], check=True)
    etcd_url = f"http://127.0.0.1:{etcd_port}"
    etcd_cmd = [
        binary, "etcd", "--data-dir", workdir / "etcd",
        "--listen-client-urls", etcd_url,
        "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
    ]  # fmt: skip
    with _process(etcd_cmd, workdir / "etcd.log") as etcd:
        _wait(f"{etcd_url}/health", proc=etcd, log=workdir / "etcd.log", timeout=timeout)
        with _process(
            _apiserver_cmd(binary, workdir, etcd_url, api_port), workdir / "apiserver.log"
        ) as api:
            plane = ControlPlane(
                server=f"https://127.0.0.1:{api_port}",
                token=token,
                ca_file=workdir / "certs" / "apiserver.crt",
                kubeconfig=workdir / "kubeconfig",
                workdir=workdir,
            )
            _wait(
                f"{plane.server}/readyz",
                proc=api,
                log=workdir / "apiserver.log",
                timeout=timeout,
                token=token,
                ca_file=plane.ca_file,
            )
            plane.kubeconfig.write_text(kubeconfig(plane))
            yield plane


def kubeconfig(plane: ControlPlane) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "testcluster",
                    "cluster": {
                        "server": plane.server,
                        "certificate-authority": str(plane.ca_file),
                    },
                }
            ],
            "users": [{"name": "admin", "user": {"token": plane.token}}],
            "contexts": [
                {"name": "testcluster", "context": {"cluster": "testcluster", "user": "admin"}}
            ],
            "current-context": "testcluster",
        },
        sort_keys=False,
    )


def _apiserver_cmd(binary: Path, workdir: Path, etcd_url: str, port: int) -> list[str | Path]:
    sa_key = workdir / "sa.key"
    return [
        binary, "apiserver",
        f"--etcd-servers={etcd_url}",
        f"--secure-port={port}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--cert-dir={workdir / 'certs'}",
        f"--token-auth-file={workdir / 'tokens.csv'}",
        "--authorization-mode=RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={sa_key}",
        f"--service-account-signing-key-file={sa_key}",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--allow-privileged=true",
    ]  # fmt: skip


@contextlib.contextmanager
def _process(cmd: list[str | Path], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait(
    url: str,
    *,
    proc: subprocess.Popen[bytes],
    log: Path,
    timeout: float,
    token: str | None = None,
    ca_file: Path | None = None,
) -> None:
    """Poll ``url`` until it answers 200; fail with the log's tail if the process dies first."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ControlPlaneError(f"{proc.args!r} exited {proc.returncode}:\n{_tail(log)}")
        request = urllib.request.Request(url)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        context = None
        if ca_file is not None:
            if not ca_file.exists():  # written by the API server as it starts
                time.sleep(0.2)
                continue
            context = ssl.create_default_context(cafile=os.fspath(ca_file))
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = str(exc)
        time.sleep(0.2)
    raise ControlPlaneError(f"{url} not ready after {timeout:.0f}s ({last}):\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _free_ports(count: int) -> list[int]:
    """Ports the kernel hands out as free now (held together so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
