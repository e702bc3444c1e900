"""FAKE model servers at kwok pods' own addresses, so the production scrape path (the API
server's pod proxy dialling the pod's IP) is the one tested.

A kwok pod runs nothing, and its address (the sandbox's pod range) leads off this machine.
``serving`` adds each pod's IP to this machine's loopback interface (not a loopback
address: the API server refuses to proxy to 127.0.0.0/8) and serves ``/metrics`` there on the
pod's port, from a function of how many times it was asked (by KubeFoundry: the sandbox's
Prometheus scrapes the same pods, and its scrapes are answered without counting). That needs
the right to change network addresses (root, or CAP_NET_ADMIN); without it the test is
skipped, saying so. The addresses are removed afterwards.
"""

from __future__ import annotations

import contextlib
import http.server
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence

import pytest

Metrics = Callable[[str, int], str]  # (pod IP, scrapes so far) -> /metrics text


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


@contextlib.contextmanager
def serving(ips: Sequence[str], port: int, metrics: Metrics) -> Iterator[dict[str, int]]:
    """Serve ``metrics`` at each of ``ips`` on ``port``; yields scrapes counted per IP."""
    added: list[str] = []
    servers: list[http.server.ThreadingHTTPServer] = []
    scrapes: dict[str, int] = dict.fromkeys(ips, 0)
    try:
        for ip in ips:
            done = _ip("addr", "add", f"{ip}/32", "dev", "lo")
            if done.returncode != 0:
                pytest.skip(f"cannot give this machine the pod address {ip}: {done.stderr}")
            added.append(ip)
            servers.append(_server(ip, port, metrics, scrapes))
        yield scrapes
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        for ip in added:
            _ip("addr", "del", f"{ip}/32", "dev", "lo")


def _server(
    ip: str, port: int, metrics: Metrics, scrapes: dict[str, int]
) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = metrics(ip, scrapes[ip]).encode()
            if not self.headers.get("User-Agent", "").startswith("Prometheus/"):
                scrapes[ip] += 1
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((ip, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
