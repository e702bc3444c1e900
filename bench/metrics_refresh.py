"""Print how long one refresh of 100 deployments' model-server metrics takes, and the memory an
hour of their history holds.

    python bench/metrics_refresh.py [--deployments N] [--pods N] [--refreshes N]

Each pod serves a real vLLM V1 /metrics sample (``tests/fixtures/metrics/vllm.prom``, 49 KB,
66 families), its counters advancing per scrape, from an HTTP server on 127.0.0.1. The
``kubefoundry top`` service (``deploy/monitoring.Monitor``) refreshes them all: 16 scrapes
at a time, each parsed by prometheus_client into the vocabulary's quantities, the pods of a
deployment merged, a reading made against the previous refresh and kept in the hour's
history. What is not in the figure: the hop through the API server's pod proxy, which a
cluster adds to every scrape (``tests/integration/test_monitoring.py`` tests that path; it
needs a cluster). The pods are listed once, as ``inspecting.deployment_pods`` would.

Printed: the median and slowest refresh (HTTP, parse, normalise), the parse-and-normalise
part alone (no HTTP), and, after ``--refreshes`` refreshes (240: an hour at one every 15 s),
the memory the history holds (tracemalloc: allocated and still referenced). Goal (issue 12):
a refresh of 100 deployments well under the 15 s between refreshes. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import http.server
import statistics
import sys
import threading
import time
import tracemalloc
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubefoundry.deploy import monitoring
from kubefoundry.metrics import history, parsing, readings

SAMPLE = Path(__file__).resolve().parent.parent / "tests/fixtures/metrics/vllm.prom"
PROMPT = 'vllm:prompt_tokens_total{engine="0",model_name="Qwen/Qwen2.5-3B-Instruct"} 228.0'


def server(text: str) -> tuple[http.server.ThreadingHTTPServer, dict[str, int]]:
    """/metrics/<pod>: the sample, with that pod's prompt counter 500 higher each scrape."""
    asked: dict[str, int] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            pod = self.path.rsplit("/", 1)[-1]
            n = asked[pod] = asked.get(pod, 0) + 1
            body = text.replace(PROMPT, PROMPT.replace("228.0", f"{228.0 + 500 * n}")).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, asked


def pods(deployments: int, per: int) -> dict[tuple[str, str], list[dict[str, Any]]]:
    def pod(d: int, p: int) -> dict[str, Any]:
        return {
            "metadata": {"name": f"d{d}-p{p}", "namespace": "bench", "uid": f"{d}-{p}"},
            "spec": {
                "containers": [
                    {
                        "ports": [{"name": "http", "containerPort": 8000}],
                        "resources": {"limits": {"nvidia.com/gpu": "1"}},
                    }
                ]
            },
            "status": {"phase": "Running", "podIP": "10.244.0.1"},
        }

    return {("bench", f"d{d}"): [pod(d, p) for p in range(per)] for d in range(deployments)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deployments", type=int, default=100)
    parser.add_argument("--pods", type=int, default=2, help="pods per deployment")
    parser.add_argument("--refreshes", type=int, default=240, help="240: an hour at 15 s")
    args = parser.parse_args()
    text = SAMPLE.read_text()
    httpd, _ = server(text)
    port = httpd.server_address[1]
    listed = pods(args.deployments, args.pods)

    def scrape(_conn: Any, *, namespace: str, pod: str, port: int | str) -> str:
        del namespace, port
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics/{pod}") as r:
            return str(r.read().decode())

    http_port = port
    clock = [0.0]
    monitor = monitoring.Monitor(
        None,  # type: ignore[arg-type]  # no cluster: the listing and scrape are local
        clock=lambda: clock[0],
        scrape=scrape,
        listing=lambda _conn, namespace: listed,
        summaries=lambda _conn, namespace: {},
        histories=history.Histories(),
    )
    total = args.deployments * args.pods
    print(f"{args.deployments} deployments x {args.pods} pods = {total} scrapes a refresh, "
          f"{len(text) // 1024} KiB each (vLLM V1 sample)")  # fmt: skip

    times = []
    for i in range(5):
        clock[0] = 15.0 * i
        started = time.perf_counter()
        seen = monitor.refresh(namespace="bench")
        times.append(time.perf_counter() - started)
    rate = seen[0].reading.prompt_tps
    print(f"refresh with HTTP: median {statistics.median(times):.2f} s, "
          f"slowest {max(times):.2f} s (check: {rate:.1f} prompt tok/s a deployment, "
          f"expected {args.pods * 500 / 15:.1f})")  # fmt: skip

    # Parse and normalise alone, five refreshes timed.
    parse_times = []
    for i in range(5):
        started = time.perf_counter()
        alone = history.Histories()
        for d in range(args.deployments):
            snaps = [
                parsing.parse(text, at=15.0 * i, origin=f"d{d}-p{p}") for p in range(args.pods)
            ]
            alone.observe(f"bench/d{d}", parsing.merge(snaps, at=15.0 * i))
        parse_times.append(time.perf_counter() - started)
    print(f"parse + normalise, no HTTP: median {statistics.median(parse_times):.2f} s "
          "a refresh")  # fmt: skip

    # An hour of history, memory traced: each deployment's pods parsed once, then a reading
    # every 15 s (the history keeps readings and the last snapshot, whatever the text said).
    gc.collect()
    tracemalloc.start()
    kept = history.Histories()
    before = tracemalloc.get_traced_memory()[0]
    parsed = {
        d: parsing.merge(
            [parsing.parse(text, at=0.0, origin=f"d{d}-p{p}") for p in range(args.pods)], at=0.0
        )
        for d in range(args.deployments)
    }
    for i in range(args.refreshes):
        for d in range(args.deployments):
            kept.observe(f"bench/d{d}", dataclasses.replace(parsed[d], at=15.0 * i))
    del parsed
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    n = len(kept.readings("bench/d0"))
    last = kept.readings("bench/d0")[-1]
    assert isinstance(last, readings.Reading)
    print(f"history after {args.refreshes} refreshes: {n} readings a deployment, "
          f"{held / 2**20:.1f} MiB held for {args.deployments} deployments "
          f"({held / args.deployments / 1024:.0f} KiB each, last snapshots included)")  # fmt: skip
    httpd.shutdown()


if __name__ == "__main__":
    main()
