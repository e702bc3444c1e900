"""Local endpoints that fail the way remote ones do, and kubeconfigs that point at them.

Nothing here leaves 127.0.0.1: a port that was just closed (connection refused), a listener
that accepts and hangs up (counting the connections, so a test can see the retries), one that
accepts and never speaks (a timeout), a TLS server whose certificate no one trusts, and a
stand-in API server that answers 401 to everything (a fake, for the one answer the real
control plane would need a broken token to give).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

TLS = Path(__file__).resolve().parent.parent / "fixtures" / "tls"


def closed_port() -> int:
    """A port nothing listens on: bound by us, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def kubeconfig(
    path: Path,
    server: str,
    *,
    context: str = "kf-test",
    namespace: str = "team-a",
    user: dict[str, Any] | None = None,
    cluster: dict[str, Any] | None = None,
) -> Path:
    """A kubeconfig with one context named ``context`` for ``server``."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, **(cluster or {})}}],
        "users": [{"name": "u", "user": user or {"token": "not-a-real-token"}}],
        "contexts": [
            {"name": context, "context": {"cluster": "c", "user": "u", "namespace": namespace}}
        ],
        "current-context": context,
    }
    path.write_text(yaml.safe_dump(document))
    return path


class Listener:
    """A TCP listener on 127.0.0.1 that runs ``serve(conn)`` for each connection it accepts.

    ``accepted`` counts connections; ``requests`` holds the first line of each plain-HTTP
    request that ``serve`` read (what it returns), e.g. ``HEAD /org/m/resolve/main/config.json``.
    """

    def __init__(self, serve: Callable[[socket.socket], bytes | None]) -> None:
        self._serve = serve
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self.accepted = 0
        self.requests: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.accepted += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            received = self._serve(conn)
            if received:
                line = received.split(b"\r\n", 1)[0].decode("latin-1")
                self.requests.append(line.rsplit(" HTTP/", 1)[0])

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


def hang_up(conn: socket.socket) -> bytes | None:
    """Accept, read what was sent, close without a word."""
    conn.settimeout(1)
    try:
        return conn.recv(65536)
    except OSError:
        return None


def say_nothing(conn: socket.socket) -> bytes | None:
    """Accept and stay silent until the client gives up."""
    conn.settimeout(5)
    with contextlib.suppress(OSError):
        while conn.recv(65536):
            pass
    return None


def hang_up_in_tls(conn: socket.socket) -> bytes | None:
    """Read the client's TLS hello, then close: a server going away mid-handshake."""
    hang_up(conn)
    return None  # a TLS hello, not a request line


def untrusted_tls(conn: socket.socket) -> bytes | None:
    """Speak TLS with a self-signed certificate no client trusts."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS / "server.crt", TLS / "server.key")
    conn.settimeout(5)
    with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True) as tls:
        tls.recv(65536)
    return None


def plain_http(conn: socket.socket) -> bytes | None:
    """Answer in plain HTTP (a client expecting TLS reads garbage)."""
    conn.settimeout(1)
    with contextlib.suppress(OSError):
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    return None


class _ApiHandler(http.server.BaseHTTPRequestHandler):
    """A stand-in API server's request handler: JSON answers, no access log."""

    def send_json(self, status: int, document: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@contextlib.contextmanager
def _serving(handler: type[_ApiHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free loopback port for the ``with`` block; yields its URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def unauthorized_api_server() -> Iterator[str]:
    """A fake API server answering every request with the Status kube-apiserver sends on 401."""

    class Handler(_ApiHandler):
        def _answer(self) -> None:
            self.send_json(
                401,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "message": "Unauthorized",
                    "reason": "Unauthorized",
                    "code": 401,
                },
            )

        do_GET = do_POST = do_PATCH = do_DELETE = _answer  # noqa: N815 (http.server's names)

    with _serving(Handler) as url:
        yield url


@contextlib.contextmanager
def busy_api_server(*, busy: int) -> Iterator[tuple[str, list[int]]]:
    """A stand-in API server (no real one is busy on demand) that answers its first ``busy``
    requests with 429 and ``Retry-After: 0``, as kube-apiserver does while a new CRD's storage
    starts, then every request with a version document. Yields its URL and the statuses it
    sent, in order."""
    sent: list[int] = []

    class Handler(_ApiHandler):
        def do_GET(self) -> None:
            if len(sent) < busy:
                sent.append(429)
                busy_status = {"kind": "Status", "code": 429, "reason": "TooManyRequests"}
                self.send_json(429, busy_status, {"Retry-After": "0"})
                return
            sent.append(200)
            self.send_json(
                200,
                {
                    "major": "1",
                    "minor": "34",
                    "gitVersion": "v1.34.3",
                    "gitCommit": "0" * 40,
                    "gitTreeState": "clean",
                    "buildDate": "2026-01-01T00:00:00Z",
                    "goVersion": "go1.24",
                    "compiler": "gc",
                    "platform": "linux/amd64",
                },
            )

    with _serving(Handler) as url:
        yield url, sent
