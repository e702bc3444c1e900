"""The sandbox's model servers: a FAKE vLLM at each model-server pod's own address.

kwok runs no container, so a pod's address answers nothing. This process (``python -m
kubefoundry.sandbox.model_servers``, started by ``sandbox up`` as one of its processes) lists
the deployments' pods every second and, for each Running pod whose engine serves a model
(``--served-model-name NAME`` among its container's arguments: vLLM, whatever the runtime),
gives the pod's IP to a network namespace of its own (a veth pair, a route to it) and runs
llm-d-inference-sim there on the pod's port: the OpenAI API, serving the model under the
same name, and vLLM's /metrics. The API server's pod and service proxies, the endpoint
picker and a scaler reach it at the pod's address, the path they take in production. When
the pod goes (or its address changes), its server and namespace go too, and all of them when
this process is stopped.

The simulator answers with the latencies it is given (``TTFT``, ``ITL``: an L4-class replica
of a small model), not the plan's: it is a stand-in for the engine, named as such.

Network namespaces need root (CAP_NET_ADMIN) and iproute2's ``ip``; ``unavailable()`` says
why not, and ``sandbox up`` then runs no model servers and says so.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kubefoundry.sandbox import processes

TTFT = "40ms"
ITL = "15ms"
POLL_S = 1.0


def unavailable() -> str | None:
    """Why this machine cannot run the model servers, or None."""
    if not sys.platform.startswith("linux"):
        return "network namespaces are Linux's"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not on PATH"
    if os.geteuid() != 0:
        return "network namespaces need root (pods' addresses are given to namespaces)"
    return None


@dataclasses.dataclass(frozen=True)
class Engine:
    """What a pod serves: the model's name, on which port, with which limits."""

    model: str
    port: int
    max_model_len: int | None
    max_num_seqs: int | None


VLLM_MAX_NUM_SEQS = 256


def engine_of(pod: Mapping[str, Any]) -> Engine | None:
    """The model a pod's engine serves, from its container's arguments; None for pods that
    serve none (an endpoint picker, a Ray worker, an operator's stand-in)."""
    for container in pod.get("spec", {}).get("containers", []):
        args = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
        model = _flag(args, "--served-model-name")
        if model is None:
            continue
        port = _flag(args, "--port")
        max_len, seqs = _flag(args, "--max-model-len"), _flag(args, "--max-num-seqs")
        return Engine(
            model=model,
            port=int(port) if port else 8000,
            max_model_len=int(max_len) if max_len else None,
            max_num_seqs=int(seqs) if seqs else None,
        )
    return None


def _flag(args: Sequence[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return None


@dataclasses.dataclass
class _Served:
    ip: str
    namespace: str
    proc: subprocess.Popen[bytes]


class Servers:
    """The simulators this sandbox runs, by pod uid."""

    def __init__(self, sim: Path, *, logs: Path, prefix: str) -> None:
        self.sim, self.logs, self.prefix = sim, logs, prefix
        self.served: dict[str, _Served] = {}

    def sync(self, pods: Sequence[Mapping[str, Any]]) -> None:
        """Serve every running model-server pod of ``pods``; stop serving the others."""
        wanted: dict[str, tuple[str, str, Engine]] = {}
        for pod in pods:
            status, meta = pod.get("status") or {}, pod["metadata"]
            engine = engine_of(pod)
            if status.get("phase") == "Running" and status.get("podIP") and engine:
                wanted[str(meta["uid"])] = (str(status["podIP"]), str(meta["name"]), engine)
        for uid in [u for u, s in self.served.items() if wanted.get(u, ("",))[0] != s.ip]:
            self._stop(self.served.pop(uid))
        for uid, (ip, name, engine) in wanted.items():
            served = self.served.get(uid)
            if served is not None and served.proc.poll() is None:
                continue
            if served is not None:
                self._stop(self.served.pop(uid))
            self.served[uid] = self._start(ip, name, engine)

    def close(self) -> None:
        """Stop every simulator at once (the sandbox's stop waits 20 s for this process),
        then remove their namespaces."""
        for served in self.served.values():
            if served.proc.poll() is None:
                served.proc.terminate()
        for served in self.served.values():
            self._stop(served)
        self.served.clear()

    def _start(self, ip: str, pod: str, engine: Engine) -> _Served:
        key = hashlib.sha1(f"{self.prefix}{ip}".encode()).hexdigest()[:8]
        namespace, host, inside = f"{self.prefix}{key}", f"kfh{key}", f"kfp{key}"
        _ip("netns", "del", namespace, check=False)  # a half-made one from a failed start
        try:
            _ip("netns", "add", namespace)
            _ip("link", "add", host, "type", "veth", "peer", "name", inside, "netns", namespace)
            _ip("-n", namespace, "link", "set", "lo", "up")
            _ip("-n", namespace, "addr", "add", f"{ip}/32", "dev", inside)
            _ip("-n", namespace, "link", "set", inside, "up")
            _ip("link", "set", host, "up")
            _ip("route", "replace", f"{ip}/32", "dev", host)
            _ip("-n", namespace, "route", "add", "default", "dev", inside)
        except OSError:
            _ip("netns", "del", namespace, check=False)
            raise
        argv = [
            "ip", "netns", "exec", namespace, str(self.sim),
            "--model", engine.model, "--port", str(engine.port),
            "--force-dummy-tokenizer", "--mode", "random",
            "--time-to-first-token", TTFT, "--inter-token-latency", ITL,
        ]  # fmt: skip
        if engine.max_model_len:
            argv += ["--max-model-len", str(engine.max_model_len)]
        # Unset, vLLM's own default (the simulator's is 5): 256 sequences, V1's below 70 GiB
        # (planning/engine_profiles.batch_defaults; 1024 on larger GPUs, not told apart here).
        argv += ["--max-num-seqs", str(engine.max_num_seqs or VLLM_MAX_NUM_SEQS)]
        with (self.logs / f"model-server-{pod}.log").open("ab") as log:
            proc = subprocess.Popen(  # dies with this process, however it ends
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                preexec_fn=processes.die_with_parent,
            )
        return _Served(ip, namespace, proc)

    def _stop(self, served: _Served) -> None:
        if served.proc.poll() is None:
            served.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                served.proc.wait(timeout=5)
            if served.proc.poll() is None:
                served.proc.kill()
                served.proc.wait()
        _ip("netns", "del", served.namespace, check=False)  # its veth pair and route go too


def sweep(prefix: str) -> None:
    """Delete the network namespaces a killed run of this sandbox left behind."""
    if unavailable() is not None:
        return
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    for line in listed.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(prefix):
            _ip("netns", "del", name, check=False)


def _ip(*args: str, check: bool = True) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise OSError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _health(port: int) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: Sequence[str] | None = None) -> None:
    from kubefoundry.cluster import connecting, inspecting

    parser = argparse.ArgumentParser(prog="python -m kubefoundry.sandbox.model_servers")
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--sim", type=Path, required=True)
    parser.add_argument("--logs", type=Path, required=True)
    parser.add_argument("--prefix", required=True, help="network namespaces' name prefix")
    parser.add_argument("--health-port", type=int, required=True)
    args = parser.parse_args(argv)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    sweep(args.prefix)
    servers = Servers(args.sim, logs=args.logs, prefix=args.prefix)
    health = _health(args.health_port)
    conn = connecting.connect(connecting.Target(kubeconfig=args.kubeconfig))
    try:
        while not stopping.is_set():
            try:
                found = inspecting.deployment_pods(conn, namespace=None)
                servers.sync([pod for pods in found.values() for pod in pods])
            except Exception as exc:  # a bad round is logged; the next one tries again
                print(f"model servers: {exc}", flush=True)
            stopping.wait(POLL_S)
    finally:
        servers.close()
        health.shutdown()
        conn.close()


if __name__ == "__main__":
    main()
