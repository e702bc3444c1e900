"""Start a sandbox, in order, each step waiting for the last:

1. etcd (``/health``) → kube-apiserver (``/readyz``, its certificate verified) → the admin
   kubeconfig → kube-controller-manager, kube-scheduler, kwok and the storage provisioner
   (their ``/healthz``), and the default StorageClass;
2. the CRDs, until every one is Established;
3. the LeaderWorkerSet controller (when its CRD is among them: it watches that kind from the
   start) and then its webhook configurations;
4. the operators that were built (KubeRay, KAITO, KServe's two, KEDA and its metrics
   adapter, registered as the external metrics API), their CRDs being the ones of the
   operator's own version (they replace the same CRDs among ``crds``), each in the namespace
   its chart would install it in;
5. Prometheus (``/-/ready``), scraping the model-server pods it finds through the API server;
6. the node pools, until kwok reports every node Ready;
7. the model servers (``model_servers``): a FAKE vLLM at each model-server pod's address, where
   this machine lets the sandbox make network namespaces (root).

The state file is written as soon as processes run. Anything that fails stops what was
started and says why, with the end of the failing process's log.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from kubefoundry.cluster import bootstrapping, connecting
from kubefoundry.sandbox import building, components, model_servers, pools, processes, running

FIELD_MANAGER = "kubefoundry-sandbox"
LWS_CRD = "leaderworkersets.leaderworkerset.x-k8s.io"
Say = Callable[[str], None]


def start(
    binaries: building.Binaries,
    *,
    workdir: Path,
    crds: Sequence[Path],
    node_pools: Sequence[pools.Pool] = pools.DEFAULT_POOLS,
    say: Say = lambda _: None,
    timeout_s: float = 180.0,
    outlive_caller: bool = True,
) -> running.Sandbox:
    """Start everything in ``workdir`` and return once the sandbox is ready.

    ``outlive_caller=False`` ties the processes to this one (the test suite's): they get
    SIGTERM if it dies without stopping them.
    """
    nodes = pools.all_nodes(tuple(node_pools))  # a bad pool fails before anything starts
    starter = _Starter(
        binaries,
        components.Layout(workdir),
        say=say,
        timeout_s=timeout_s,
        outlive_caller=outlive_caller,
    )
    try:
        sandbox = starter.control_plane()
        conn = connecting.connect(connecting.Target(kubeconfig=sandbox.kubeconfig))
        try:
            began = time.monotonic()
            crds = _with_operator_crds(crds, binaries.operators, starter.layout)
            say(f"installing {len(crds)} CRDs")
            bootstrapping.install_crds(conn, crds, field_manager=FIELD_MANAGER, timeout_s=timeout_s)
            say(f"CRDs Established in {time.monotonic() - began:.0f}s")
            objects = [components.STORAGE_CLASS, *pools.cluster_objects(tuple(node_pools))]
            bootstrapping.apply_objects(conn, objects, field_manager=FIELD_MANAGER)
            if LWS_CRD in {path.stem for path in crds}:
                starter.lws(conn)
            starter.operators(conn)
            starter.prometheus()
            bootstrapping.apply_nodes(conn, nodes, field_manager=FIELD_MANAGER)
            names = tuple(n["metadata"]["name"] for n in nodes)
            starter.wait_nodes(conn, names)
            starter.wait_stand_ins(conn)
            starter.model_servers()
        finally:
            conn.close()
        say(f"{len(names)} nodes Ready in {len(node_pools)} pools")
        sandbox = dataclasses.replace(
            sandbox,
            processes=tuple(starter.started),
            nodes=names,
            prometheus=starter.prometheus_url,
        )
        running.write_state(sandbox)
        return sandbox
    except BaseException:
        for proc in reversed(starter.started):
            processes.stop(proc)
        raise


@contextlib.contextmanager
def started(
    binaries: building.Binaries,
    *,
    workdir: Path,
    crds: Sequence[Path],
    node_pools: Sequence[pools.Pool] = pools.DEFAULT_POOLS,
    say: Say = lambda _: None,
) -> Iterator[running.Sandbox]:
    """A sandbox for the length of a ``with`` block (the test suite's), whose processes do
    not outlive this one even when it is killed."""
    sandbox = start(
        binaries,
        workdir=workdir,
        crds=crds,
        node_pools=node_pools,
        say=say,
        outlive_caller=False,
    )
    try:
        yield sandbox
    finally:
        running.stop(sandbox)


class _Starter:
    def __init__(
        self,
        binaries: building.Binaries,
        layout: components.Layout,
        *,
        say: Say,
        timeout_s: float,
        outlive_caller: bool,
    ) -> None:
        self.binaries, self.layout, self.say, self.timeout_s = binaries, layout, say, timeout_s
        self.outlive_caller = outlive_caller
        self.ports = components.Ports(*processes.free_ports(components.PORTS))
        self.started: list[processes.Process] = []
        self.stand_ins: list[dict[str, Any]] = []
        self.sandbox: running.Sandbox | None = None
        self.prometheus_url: str | None = None

    def run(
        self,
        name: str,
        argv: list[str],
        url: str,
        env: dict[str, str] | None = None,
        **probe: Any,
    ) -> processes.Process:
        proc = processes.start(
            name,
            argv,
            log=self.layout.logs / f"{name}.log",
            env=env,
            outlive_parent=self.outlive_caller,
        )
        self.started.append(proc)
        if self.sandbox is not None:  # from here on, `sandbox down` can stop what runs
            self.sandbox = dataclasses.replace(self.sandbox, processes=tuple(self.started))
            running.write_state(self.sandbox)
        processes.wait_healthy(url, proc=proc, timeout_s=self.timeout_s, **probe)
        self.say(f"{name} ready")
        return proc

    def control_plane(self) -> running.Sandbox:
        layout, ports, binary = self.layout, self.ports, self.binaries.testcluster
        for folder in (layout.workdir, layout.logs, layout.kwok_home):
            folder.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(16)
        layout.tokens.write_text(f"{token},admin,admin,system:masters\n")
        layout.tokens.chmod(0o600)
        _tool(binary, "keygen", layout.sa_key)
        _tool(binary, "certgen", layout.front_proxy)
        etcd = f"http://127.0.0.1:{ports.etcd}/health"
        self.run("etcd", components.etcd(binary, layout, ports), etcd)
        server = f"https://127.0.0.1:{ports.apiserver}"
        argv = components.apiserver(binary, layout, ports)
        self.run("kube-apiserver", argv, f"{server}/readyz", token=token, ca_file=layout.ca_file)
        ca_pem = layout.ca_file.read_bytes()
        layout.kubeconfig.write_text(
            components.kubeconfig(server=server, token=token, ca_pem=ca_pem)
        )
        layout.kubeconfig.chmod(0o600)
        self.sandbox = running.Sandbox(
            workdir=layout.workdir,
            server=server,
            token=token,
            ca_file=layout.ca_file,
            kubeconfig=layout.kubeconfig,
            processes=tuple(self.started),
            nodes=(),
        )
        running.write_state(self.sandbox)
        for name, argv, port in (
            (
                "kube-controller-manager",
                components.controller_manager(binary, layout, ports),
                ports.controller_manager,
            ),
            ("kube-scheduler", components.scheduler(binary, layout, ports), ports.scheduler),
        ):
            self.run(name, argv, f"https://127.0.0.1:{port}/healthz")
        kwok = components.kwok(self.binaries.kwok, layout, ports)
        env = {"KWOK_WORKDIR": str(layout.kwok_home)}
        self.run("kwok", kwok, f"http://127.0.0.1:{ports.kwok}/healthz", env=env)
        argv = components.provisioner(binary, layout, ports)
        self.run("provisioner", argv, f"http://127.0.0.1:{ports.provisioner}/healthz")
        return self.sandbox

    def lws(self, conn: connecting.Connection) -> None:
        layout, ports = self.layout, self.ports
        _tool(self.binaries.testcluster, "certgen", layout.lws_certs)
        layout.lws_config.write_text(components.lws_config(layout, ports))
        argv = components.lws(self.binaries.lws, layout)
        self.run("lws-controller", argv, f"http://127.0.0.1:{ports.lws_health}/readyz")
        hooks = components.lws_webhooks(ports, (layout.lws_certs / "tls.crt").read_bytes())
        bootstrapping.apply_objects(conn, hooks, field_manager=FIELD_MANAGER)
        self.stand_in(conn, "lws")

    def operators(self, conn: connecting.Connection) -> None:
        """The runtimes' operators that were built, each with its stand-in."""
        layout, ports, built = self.layout, self.ports, self.binaries.operators
        if "kuberay" in built:
            argv = components.kuberay(built["kuberay"].binary, layout, ports)
            self.run("kuberay-operator", argv, f"http://127.0.0.1:{ports.kuberay_health}/readyz")
            self.stand_in(conn, "kuberay")
        if "kaito" in built:
            argv, env = components.kaito(built["kaito"].binary, layout, ports)
            url = f"http://127.0.0.1:{ports.kaito_health}/readyz"
            self.run("kaito-workspace", argv, url, env=env)
            self.stand_in(conn, "kaito")
        if "kserve" in built:
            self.kserve(conn, "kserve", built["kserve"], ports.kserve_webhook, ports.kserve_health)
        if "llmisvc" in built:
            self.kserve(
                conn, "llmisvc", built["llmisvc"], ports.llmisvc_webhook, ports.llmisvc_health
            )
        if "keda" in built:
            _tool(self.binaries.testcluster, "certgen", layout.keda_certs)
            (layout.keda_certs / "ca.crt").write_bytes((layout.keda_certs / "tls.crt").read_bytes())
            argv, env = components.keda(built["keda"].binary, layout, ports)
            self.run("keda-operator", argv, f"http://127.0.0.1:{ports.keda_health}/readyz", env=env)
            self.stand_in(conn, "keda")
            self.keda_adapter(conn, built["keda"])

    def keda_adapter(self, conn: connecting.Connection, keda: building.Operator) -> None:
        """KEDA's metrics adapter at this machine's own address (an Endpoints object refuses
        loopback), registered as the external metrics API once it answers there."""
        layout, ports = self.layout, self.ports
        if keda.adapter is None:
            return
        address = host_address()
        if address is None:
            self.say(
                "KEDA's metrics adapter not started (this machine has no address but "
                "loopback): HPAs on ScaledObjects read no metric"
            )
            return
        names = components.keda_adapter_names(address)
        _tool(self.binaries.testcluster, "certgen", layout.keda_adapter_certs, *names)
        argv, env = components.keda_adapter(keda.adapter, layout, ports, address=address)
        cert = layout.keda_adapter_certs / "tls.crt"
        url = f"https://{address}:{ports.keda_adapter}/readyz"
        self.run("keda-metrics-adapter", argv, url, env=env, ca_file=cert)
        objects = components.keda_adapter_objects(address, ports.keda_adapter, cert.read_bytes())
        bootstrapping.apply_objects(conn, objects, field_manager=FIELD_MANAGER)

    def prometheus(self) -> None:
        """Prometheus, scraping our model-server pods (``components.prometheus_config``)."""
        if self.binaries.prometheus is None:
            return
        layout, ports = self.layout, self.ports
        layout.prometheus_data.mkdir(parents=True, exist_ok=True)
        layout.prometheus_config.write_text(components.prometheus_config(layout))
        argv = components.prometheus(self.binaries.prometheus, layout, ports)
        url = f"http://127.0.0.1:{ports.prometheus}"
        self.run("prometheus", argv, f"{url}/-/ready")
        self.prometheus_url = url

    def kserve(
        self,
        conn: connecting.Connection,
        name: str,
        operator: building.Operator,
        webhook: int,
        health: int,
    ) -> None:
        """KServe's manager (``kserve``) or LLMInferenceService controller (``llmisvc``): its
        ConfigMap first, as it reads it at start; then the process; then its webhooks,
        registered only once they answer (they fail closed); then the LLMInferenceService
        controller's presets, which its webhook validates."""
        layout, config = self.layout, operator.config
        if config is None:
            raise processes.StartError(f"the {name} build named no config folder")
        release = yaml.safe_load((config / "configmap" / "inferenceservice.yaml").read_text())
        namespace = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": components.KSERVE_NAMESPACE},
        }
        bootstrapping.apply_objects(
            conn, [namespace, components.kserve_config(release)], field_manager=FIELD_MANAGER
        )
        _tool(self.binaries.testcluster, "certgen", layout.serving_certs(name))
        argv, env = components.kserve(name, operator.binary, layout, webhook=webhook, health=health)
        url = f"http://127.0.0.1:{health}/readyz"
        self.run(f"{name}-controller-manager", argv, url, env=env)
        hooks = config / "webhook" / ("" if name == "kserve" else "llmisvc") / "manifests.yaml"
        configurations = components.webhooks_at(
            _documents(hooks),
            f"https://127.0.0.1:{webhook}",
            (layout.serving_certs(name) / "tls.crt").read_bytes(),
        )
        bootstrapping.apply_objects(conn, configurations, field_manager=FIELD_MANAGER)
        self.stand_in(conn, "kserve" if name == "kserve" else "kserve-llmisvc")
        if name == "llmisvc":
            presets = sorted((config / "llmisvcconfig").glob("config-*.yaml"))
            bootstrapping.apply_objects(
                conn,
                [components.in_kserve_namespace(d) for p in presets for d in _documents(p)],
                field_manager=FIELD_MANAGER,
            )

    def model_servers(self) -> None:
        """A FAKE vLLM at each model-server pod's address, where this machine allows it."""
        if self.binaries.sim is None:
            return
        why = model_servers.unavailable()
        if why is not None:
            self.say(f"model servers not simulated ({why}): pods' addresses answer nothing")
            return
        argv = components.model_servers(
            sys.executable, self.layout, self.ports, sim=self.binaries.sim
        )
        url = f"http://127.0.0.1:{self.ports.model_servers_health}/healthz"
        self.run("model-servers", argv, url)

    def stand_in(self, conn: connecting.Connection, name: str) -> None:
        """The stand-in of a controller that now runs (``components.STAND_INS``)."""
        objects = components.controller_stand_in(components.STAND_INS[name])
        bootstrapping.apply_objects(conn, objects, field_manager=FIELD_MANAGER)
        self.stand_ins.append(objects[-1])

    def wait_stand_ins(self, conn: connecting.Connection) -> None:
        """Until kwok runs each stand-in's pod (discovery reads it as the controller's)."""
        deadline = time.monotonic() + self.timeout_s
        for obj in self.stand_ins:
            name, namespace = obj["metadata"]["name"], obj["metadata"]["namespace"]
            while not bootstrapping.ready_pods_of(conn, name=name, namespace=namespace):
                if time.monotonic() > deadline:
                    raise processes.StartError(
                        f"the stand-in Deployment {namespace}/{name} has no ready pod after "
                        f"{self.timeout_s:.0f}s (kwok runs it on the system node)"
                    )
                time.sleep(0.3)

    def wait_nodes(self, conn: connecting.Connection, names: Sequence[str]) -> None:
        kwok = next(p for p in self.started if p.name == "kwok")
        deadline = time.monotonic() + self.timeout_s
        waiting = set(names)
        while waiting and time.monotonic() < deadline:
            if not processes.alive(kwok):
                raise processes.StartError(
                    f"kwok exited; the end of {kwok.log}:\n{processes.tail(kwok.log)}"
                )
            waiting -= bootstrapping.ready_nodes(conn, names)
            if waiting:
                time.sleep(0.3)
        if waiting:
            raise processes.StartError(
                f"nodes not Ready after {self.timeout_s:.0f}s: {', '.join(sorted(waiting))}; "
                f"the end of {kwok.log}:\n{processes.tail(kwok.log)}"
            )


def _with_operator_crds(
    crds: Sequence[Path], operators: Mapping[str, building.Operator], layout: components.Layout
) -> list[Path]:
    """``crds`` with each operator's own CRDs in place of the same ones: the controller and
    its CRDs from one release (ours in ``checks/data/crds`` may be newer). Copied into the
    sandbox's folder as ``<plural>.<group>.yaml``, the name the install waits on, taken from
    controller-gen's file name ``<group>_<plural>.yaml`` (parsing the YAML for it took 10 s;
    the API server refuses a CRD whose name is not the one the install names)."""
    if not operators:
        return list(crds)
    layout.operator_crds.mkdir(parents=True, exist_ok=True)
    theirs: dict[str, Path] = {}
    for operator in operators.values():
        for source in sorted(operator.crds.glob("*.yaml")):
            group, _, plural = source.stem.partition("_")
            if not plural:
                raise processes.StartError(f"{source} is not named <group>_<plural>.yaml")
            name = f"{plural}.{group}"
            theirs[name] = layout.operator_crds / f"{name}.yaml"
            theirs[name].write_bytes(source.read_bytes())
    return [p for p in crds if p.stem not in theirs] + sorted(theirs.values())


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def host_address() -> str | None:
    """This machine's address on its default route (no packet is sent), or None with only
    loopback: somewhere the API server reaches a process here through an Endpoints object."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("203.0.113.1", 9))  # TEST-NET-3: connect() only picks a route
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def _tool(binary: Path, command: str, path: Path, *names: str) -> None:
    """``testcluster keygen PATH`` / ``certgen DIR [NAME...]``: keys made by our own binary
    (no openssl)."""
    argv = [str(binary), command, str(path), *names]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise processes.StartError(f"{binary} {command} failed: {result.stderr.strip()}")
