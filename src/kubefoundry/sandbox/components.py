"""The command line of each sandbox component, and the kubeconfig they and users share.

Pure: paths and ports in, argv out. Every flag is upstream's own; what each one is for:

- etcd: one member, data in the work folder, client and peer URLs on loopback.
- kube-apiserver: loopback only; a self-signed serving certificate it writes to ``--cert-dir``;
  one static token for an ``admin`` user in ``system:masters`` (``--token-auth-file``); RBAC;
  a service-account key pair (signs the tokens pods get) and a service CIDR.
- kube-controller-manager: the admin kubeconfig for every controller (no per-controller
  service accounts), no leader election, the default controllers (``*``: garbage collector,
  namespace, Deployment/ReplicaSet, StatefulSet, Job, service accounts, node lifecycle...;
  the cloud ones stay off without a cloud provider). ``--service-account-private-key-file``
  lets the token controller sign legacy service-account token Secrets and ``--root-ca-file``
  is the CA it publishes to every namespace as ``kube-root-ca.crt``; certificate signing
  (``--cluster-signing-*``) is left out: no kubelet asks for a certificate here.
- kube-scheduler: the admin kubeconfig, no leader election, the default profile.
- kwok: plays the kubelet of nodes annotated ``kwok.x-k8s.io/node=fake`` with its default
  stages (nodes Ready; pods Running and Ready, deleted pods removed), renewing a Lease per
  node as kubelets do; pod IPs from a private range.
- the storage provisioner (``testcluster provisioner``, our own): binds a PersistentVolume to
  every claim of the default StorageClass ``standard`` (the model cache needs one to be
  bound before its pods schedule); the volumes hold no data, since nothing mounts them.
- the LeaderWorkerSet controller (sigs.k8s.io/lws): the admin kubeconfig, a configuration
  file (no leader election, no metrics, no certificate rotation) and its
  admission webhooks served on loopback with a certificate ``testcluster certgen`` made;
  the API server calls them through webhook configurations that name that URL and
  certificate (LWS's own ``config/webhook`` manifests, service references replaced by the
  URL).
- the KubeRay operator (ray-operator): the admin kubeconfig, no leader election, no metrics,
  console logs. It makes each RayService's RayCluster
  and its head and worker pods; the RayService itself stays not Ready, since the operator
  asks the Ray dashboard on the head pod (``<head service>.<ns>.svc:8265``) whether the
  application serves, and nothing answers at a kwok pod's address.
- KAITO's workspace controller: the admin kubeconfig, bring-your-own nodes
  (``--node-provisioner=byo``: it places workloads on existing nodes carrying GPU feature
  discovery's ``nvidia.com/gpu.*`` labels and provisions none), no webhook (KAITO's defaults
  and validation run in the controller too), no leader election (it finds its Lease's
  namespace only in a pod), no metrics. It turns a Workspace into a StatefulSet or
  Deployment and an InferenceSet into Workspaces.
- KServe's controller manager (``cmd/manager``): the admin kubeconfig, no leader election, no
  metrics; its namespace (``POD_NAMESPACE``) holds the ``inferenceservice-config`` ConfigMap
  of its own release, set to the Standard (plain Deployment) mode as a Helm install with
  ``deploymentMode=Standard`` is; its admission webhooks (InferenceService defaulting and
  validation, ServingRuntime validation, the pod mutator) serve on a loopback port with a
  ``testcluster certgen`` certificate in the folder controller-runtime reads
  (``$TMPDIR/k8s-webhook-server/serving-certs``; it has no flag), registered from its own
  ``config/webhook/manifests.yaml`` with each service reference replaced by that URL. It
  turns an InferenceService into a Deployment, Service and autoscaler objects and judges
  the InferenceService Ready from that Deployment.
- KServe's LLMInferenceService controller (``cmd/llmisvc``, the same module): the same
  settings (its own webhook port and certificate folder), the same ConfigMap, and its
  release's presets (the ``LLMInferenceServiceConfig`` objects of ``config/llmisvcconfig``)
  in its namespace, as its chart installs them. It turns an LLMInferenceService into the
  vLLM Deployment and, with a Gateway, the endpoint picker, InferencePool and HTTPRoute.
- KEDA's operator (``cmd/operator``): the admin kubeconfig, every namespace watched
  (``WATCH_NAMESPACE`` empty), its own namespace ``keda`` (``POD_NAMESPACE``,
  ``KEDA_CLUSTER_OBJECT_NAMESPACE``), no leader election, no metrics, no certificate
  rotation or webhook/APIService patching; its gRPC metrics service (what KEDA's metrics
  adapter would call) on loopback with a ``testcluster certgen`` pair. It turns each
  ScaledObject into the HorizontalPodAutoscaler ``keda-hpa-<name>`` on its target, and
  activates 0 <-> 1 itself.
- KEDA's metrics adapter (``cmd/adapter``, the same module): the external metrics API the
  HPA controller reads, an aggregated API. The API server reaches it through the Service and
  APIService KEDA's chart makes, here a Service without selector whose Endpoints name this
  machine's own address (Endpoints refuse loopback); the API server runs with the
  aggregation layer's flags (a front-proxy client pair, a self-signed certificate that is its
  own CA, and ``--enable-aggregator-routing``: no kube-proxy routes Service IPs here). The
  adapter calls the operator's gRPC metrics service with the operator's own pair, and each
  ScaledObject's query reaches the Prometheus it names.
- Prometheus (v3.16, Kubernetes discovery only): scrapes every running pod of ours on its
  port ``http`` at ``/metrics``, every 5 s, as the PodMonitor we render would configure it
  (the Prometheus Operator does not run here); ``sandbox.json`` and ``sandbox status`` give
  its URL, for ``serving.prometheus``.

The four controllers run as processes on this machine, without leader election: a
leader-elected controller exits when it cannot renew its Lease for 10 s (a test stalls the API
server longer than that), and nothing here restarts it as a kubelet would. Discovery, which
counts a runtime as installed only where its controller is seen running (a Lease, a ready
pod, a ready webhook endpoint), then sees a **stand-in** for each (``STAND_INS``,
``controller_stand_in``): the Deployment its Helm chart installs, with the chart's pod label,
whose one pod kwok runs on the system node, as a cluster shows a running controller.
``sandbox status`` says whether the process itself lives.

The components serve their health endpoints on loopback ports (kube-controller-manager and
kube-scheduler over HTTPS with an in-memory self-signed certificate).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import yaml

KWOK_SELECTOR = "kwok.x-k8s.io/node=fake"
NODE_LEASE_S = 40  # the kubelet's default
SERVICE_CIDR = "10.96.0.0/16"
CONTEXT = "kubefoundry-sandbox"


@dataclasses.dataclass(frozen=True)
class Ports:
    etcd: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int
    lws_webhook: int
    lws_health: int
    provisioner: int
    kuberay_health: int
    kaito_health: int
    kserve_webhook: int
    kserve_health: int
    llmisvc_webhook: int
    llmisvc_health: int
    keda_health: int
    keda_metrics_service: int
    keda_adapter: int
    keda_adapter_metrics: int
    prometheus: int
    model_servers_health: int


PORTS = len(dataclasses.fields(Ports))
KAITO_NAMESPACE = "kaito-workspace"  # RELEASE_NAMESPACE: where KAITO keeps its own objects
KSERVE_NAMESPACE = "kserve"  # POD_NAMESPACE: where KServe reads inferenceservice-config
KEDA_NAMESPACE = "keda"  # POD_NAMESPACE and KEDA_CLUSTER_OBJECT_NAMESPACE
# KEDA's operator and metrics adapter alike: every namespace watched, their own namespace.
KEDA_ENV = {
    "WATCH_NAMESPACE": "",
    "POD_NAMESPACE": KEDA_NAMESPACE,
    "KEDA_CLUSTER_OBJECT_NAMESPACE": KEDA_NAMESPACE,
}


@dataclasses.dataclass(frozen=True)
class StandIn:
    """Where each controller's chart installs it, and its pods' label (the one the runtime's
    ``cluster_side.Controller.pods`` declares)."""

    name: str
    namespace: str
    labels: dict[str, str]


STAND_INS = {
    "lws": StandIn("lws-controller-manager", "lws-system", {"app.kubernetes.io/name": "lws"}),
    "kuberay": StandIn(
        "kuberay-operator", "kuberay-system", {"app.kubernetes.io/name": "kuberay-operator"}
    ),
    "kaito": StandIn("kaito-workspace", KAITO_NAMESPACE, {"app.kubernetes.io/name": "workspace"}),
    "kserve": StandIn(
        "kserve-controller-manager",
        KSERVE_NAMESPACE,
        {"control-plane": "kserve-controller-manager"},
    ),
    "keda": StandIn("keda-operator", KEDA_NAMESPACE, {"app": "keda-operator"}),
    "kserve-llmisvc": StandIn(
        "llmisvc-controller-manager",
        KSERVE_NAMESPACE,
        {"control-plane": "llmisvc-controller-manager"},
    ),
}


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where everything lives in the sandbox's folder."""

    workdir: Path

    @property
    def etcd_data(self) -> Path:
        return self.workdir / "etcd"

    @property
    def certs(self) -> Path:
        return self.workdir / "certs"

    @property
    def ca_file(self) -> Path:  # the API server's self-signed serving certificate
        return self.certs / "apiserver.crt"

    @property
    def tokens(self) -> Path:
        return self.workdir / "tokens.csv"

    @property
    def sa_key(self) -> Path:
        return self.workdir / "sa.key"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    @property
    def kwok_home(self) -> Path:  # KWOK_WORKDIR: keeps a user's ~/.kwok/kwok.yaml out
        return self.workdir / "kwok"

    @property
    def lws_certs(self) -> Path:  # tls.crt, tls.key of the LWS webhook server
        return self.workdir / "lws-certs"

    @property
    def lws_config(self) -> Path:
        return self.workdir / "lws-config.yaml"

    def tmp(self, name: str) -> Path:  # a controller's TMPDIR
        return self.workdir / f"{name}-tmp"

    def serving_certs(self, name: str) -> Path:  # where controller-runtime's webhook server
        return self.tmp(name) / "k8s-webhook-server" / "serving-certs"  # reads its pair

    @property
    def keda_certs(self) -> Path:  # tls.crt, tls.key, ca.crt of KEDA's gRPC metrics service
        return self.workdir / "keda-certs"

    @property
    def front_proxy(self) -> Path:  # tls.crt, tls.key: the API server's aggregation client
        return self.workdir / "front-proxy"

    @property
    def keda_adapter_certs(self) -> Path:  # tls.crt, tls.key the metrics adapter serves with
        return self.workdir / "keda-adapter-certs"

    @property
    def prometheus_config(self) -> Path:
        return self.workdir / "prometheus.yaml"

    @property
    def prometheus_data(self) -> Path:
        return self.workdir / "prometheus"

    @property
    def operator_crds(self) -> Path:  # the operators' CRDs, as <plural>.<group>.yaml
        return self.workdir / "operator-crds"


def etcd(binary: Path, layout: Layout, ports: Ports) -> list[str]:
    return [
        str(binary), "etcd",
        "--data-dir", str(layout.etcd_data),
        "--listen-client-urls", f"http://127.0.0.1:{ports.etcd}",
        "--listen-peer-urls", f"http://127.0.0.1:{ports.etcd_peer}",
    ]  # fmt: skip


def apiserver(binary: Path, layout: Layout, ports: Ports) -> list[str]:
    return [
        str(binary), "apiserver",
        f"--etcd-servers=http://127.0.0.1:{ports.etcd}",
        f"--secure-port={ports.apiserver}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--cert-dir={layout.certs}",
        f"--token-auth-file={layout.tokens}",
        "--authorization-mode=RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={layout.sa_key}",
        f"--service-account-signing-key-file={layout.sa_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allow-privileged=true",
        # The aggregation layer (KEDA's metrics adapter is an aggregated API): the client
        # certificate it proxies with, the CA that vouches for it and the headers that carry
        # the user; and an APIService's Service reached at its endpoint's address, since no
        # kube-proxy routes Service IPs here.
        f"--requestheader-client-ca-file={layout.front_proxy / 'tls.crt'}",
        f"--proxy-client-cert-file={layout.front_proxy / 'tls.crt'}",
        f"--proxy-client-key-file={layout.front_proxy / 'tls.key'}",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--enable-aggregator-routing=true",
    ]  # fmt: skip


def controller_manager(binary: Path, layout: Layout, ports: Ports) -> list[str]:
    return [
        str(binary), "controller-manager",
        f"--kubeconfig={layout.kubeconfig}",
        "--leader-elect=false",
        "--controllers=*",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.controller_manager}",
        f"--service-account-private-key-file={layout.sa_key}",
        f"--root-ca-file={layout.ca_file}",
    ]  # fmt: skip


def scheduler(binary: Path, layout: Layout, ports: Ports) -> list[str]:
    return [
        str(binary), "scheduler",
        f"--kubeconfig={layout.kubeconfig}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.scheduler}",
    ]  # fmt: skip


def pod_cidr(ports: Ports) -> str:
    """The pods' addresses: 10.X.0.0/16, X from 200 to 249 by the API server's port, so two
    sandboxes on one machine (a test run beside a user's) give their model servers' network
    namespaces different addresses."""
    return f"10.{200 + ports.apiserver % 50}.0.1/16"


def model_servers(python: str, layout: Layout, ports: Ports, *, sim: Path) -> list[str]:
    """The process that serves a FAKE vLLM at each model-server pod's address
    (``sandbox/model_servers.py``); its network namespaces are named after this sandbox."""
    prefix = model_servers_prefix(layout)
    return [
        python, "-m", "kubefoundry.sandbox.model_servers",
        "--kubeconfig", str(layout.kubeconfig), "--sim", str(sim), "--logs", str(layout.logs),
        "--prefix", prefix, "--health-port", str(ports.model_servers_health),
    ]  # fmt: skip


def model_servers_prefix(layout: Layout) -> str:
    """The name prefix of this sandbox's model servers' network namespaces."""
    return "kf" + hashlib.sha1(str(layout.workdir).encode()).hexdigest()[:4] + "-"


def kwok(binary: Path, layout: Layout, ports: Ports) -> list[str]:
    return [
        str(binary),
        f"--kubeconfig={layout.kubeconfig}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={KWOK_SELECTOR}",
        f"--server-address=127.0.0.1:{ports.kwok}",
        f"--cidr={pod_cidr(ports)}",
        # Renew each node's Lease (every 10 s): without leases the node lifecycle controller
        # only sees kwok's status heartbeats, which are further apart than its grace period,
        # so nodes would flap to Unknown and their pods be marked not Ready.
        f"--node-lease-duration-seconds={NODE_LEASE_S}",
    ]


PROVISIONER = "kubefoundry.io/sandbox"
STORAGE_CLASS = {
    "apiVersion": "storage.k8s.io/v1",
    "kind": "StorageClass",
    "metadata": {
        "name": "standard",
        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
    },
    "provisioner": PROVISIONER,
    "reclaimPolicy": "Delete",
    "volumeBindingMode": "Immediate",
}


def provisioner(binary: Path, layout: Layout, ports: Ports) -> list[str]:
    return [
        str(binary), "provisioner",
        f"--kubeconfig={layout.kubeconfig}",
        f"--name={PROVISIONER}",
        f"--health-address=127.0.0.1:{ports.provisioner}",
    ]  # fmt: skip


def lws(binary: Path, layout: Layout) -> list[str]:
    return [str(binary), f"--kubeconfig={layout.kubeconfig}", f"--config={layout.lws_config}"]


def lws_config(layout: Layout, ports: Ports) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "config.lws.x-k8s.io/v1alpha1",
            "kind": "Configuration",
            "leaderElection": {"leaderElect": False},  # see STAND_INS
            "internalCertManagement": {"enable": False},
            "webhook": {
                "host": "127.0.0.1",
                "port": ports.lws_webhook,
                "certDir": str(layout.lws_certs),
            },
            "health": {"healthProbeBindAddress": f"127.0.0.1:{ports.lws_health}"},
            "metrics": {"bindAddress": "0"},
        },
        sort_keys=False,
    )


def kuberay(binary: Path, layout: Layout, ports: Ports) -> list[str]:
    return [
        str(binary),
        f"--kubeconfig={layout.kubeconfig}",
        "--enable-leader-election=false",
        "--metrics-addr=0",
        f"--health-probe-bind-address=127.0.0.1:{ports.kuberay_health}",
        "--log-stdout-encoder=console",
    ]


def kaito(binary: Path, layout: Layout, ports: Ports) -> tuple[list[str], dict[str, str]]:
    """KAITO's argv and environment: its own namespace (RELEASE_NAMESPACE) and the cloud whose
    instance types it knows GPUs by (CLOUD_PROVIDER, set by its chart): AWS, the cloud of the
    sandbox's L4 pool, the pool KAITO's bring-your-own mode can use (GPU feature discovery's
    labels); the GKE H100 pool has none."""
    argv = [
        str(binary),
        f"--kubeconfig={layout.kubeconfig}",
        "--node-provisioner=byo",
        "--webhook=false",
        "--leader-elect=false",
        "--metrics-bind-address=0",
        f"--health-probe-bind-address=127.0.0.1:{ports.kaito_health}",
    ]
    return argv, {"RELEASE_NAMESPACE": KAITO_NAMESPACE, "CLOUD_PROVIDER": "aws"}


def kserve(
    name: str, binary: Path, layout: Layout, *, webhook: int, health: int
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment of KServe's manager or LLMInferenceService controller (the
    same flags): its namespace and the folder its webhook certificate is read from
    (controller-runtime's default, under ``TMPDIR``). Its webhook server listens on every
    interface (KServe has no flag for the host)."""
    argv = [
        str(binary),
        f"--kubeconfig={layout.kubeconfig}",
        "--leader-elect=false",
        "--metrics-addr=0",
        f"--health-probe-addr=127.0.0.1:{health}",
        f"--webhook-port={webhook}",
    ]
    return argv, {"POD_NAMESPACE": KSERVE_NAMESPACE, "TMPDIR": str(layout.tmp(name))}


def kserve_config(release: dict[str, Any]) -> dict[str, Any]:
    """KServe's ``inferenceservice-config`` of its own release (``config/configmap``), in the
    Standard deployment mode: InferenceServices become plain Deployments (the default,
    Serverless, needs Knative)."""
    config = {**release, "data": dict(release["data"])}
    config["metadata"] = {"name": release["metadata"]["name"], "namespace": KSERVE_NAMESPACE}
    config["data"]["deploy"] = '{"defaultDeploymentMode": "Standard"}'
    return config


def keda(binary: Path, layout: Layout, ports: Ports) -> tuple[list[str], dict[str, str]]:
    """KEDA's operator argv and environment (see the module's description)."""
    argv = [
        str(binary),
        f"--kubeconfig={layout.kubeconfig}",
        "--leader-elect=false",
        "--enable-prometheus-metrics=false",
        "--metrics-bind-address=0",
        f"--health-probe-bind-address=127.0.0.1:{ports.keda_health}",
        f"--metrics-service-bind-address=127.0.0.1:{ports.keda_metrics_service}",
        f"--cert-dir={layout.keda_certs}",
        f"--ca-dir={layout.keda_certs}",
        "--enable-cert-rotation=false",
        "--enable-webhook-patching=false",
        "--enable-apiservice-patching=false",
    ]
    return argv, dict(KEDA_ENV)


KEDA_ADAPTER = "keda-operator-metrics-apiserver"  # its chart's Service
EXTERNAL_METRICS = "v1beta1.external.metrics.k8s.io"


def keda_adapter(
    binary: Path, layout: Layout, ports: Ports, *, address: str
) -> tuple[list[str], dict[str, str]]:
    """KEDA's metrics adapter (``cmd/adapter``): the external metrics API, served at
    ``address`` (one the API server reaches through an Endpoints object, which refuses
    loopback), asking the operator's gRPC metrics service on loopback with the operator's
    own pair (``--cert-dir``: ``ca.crt``, ``tls.crt``, ``tls.key``). The API server's front
    proxy is trusted through the ``extension-apiserver-authentication`` ConfigMap it
    publishes, read with the admin kubeconfig, as are the SubjectAccessReviews it makes."""
    kubeconfig = str(layout.kubeconfig)
    argv = [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--lister-kubeconfig={kubeconfig}",
        f"--bind-address={address}",
        f"--secure-port={ports.keda_adapter}",
        f"--tls-cert-file={layout.keda_adapter_certs / 'tls.crt'}",
        f"--tls-private-key-file={layout.keda_adapter_certs / 'tls.key'}",
        f"--cert-dir={layout.keda_certs}",
        f"--metrics-service-address=127.0.0.1:{ports.keda_metrics_service}",
        f"--port={ports.keda_adapter_metrics}",
        "--zap-encoder=console",
    ]
    return argv, dict(KEDA_ENV)


def keda_adapter_objects(address: str, port: int, ca_pem: bytes) -> list[dict[str, Any]]:
    """The adapter's registration, as KEDA's chart makes it: the APIService of the external
    metrics API on the Service ``keda/keda-operator-metrics-apiserver``; here that Service has
    no selector and one Endpoints address, the process on this machine."""
    meta = {"name": KEDA_ADAPTER, "namespace": KEDA_NAMESPACE, "labels": {"app": KEDA_ADAPTER}}
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port}]},
        },
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": meta,
            "subsets": [
                {
                    "addresses": [{"ip": address}],
                    "ports": [{"name": "https", "port": port}],
                }
            ],
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": EXTERNAL_METRICS, "labels": {"app": KEDA_ADAPTER}},
            "spec": {
                "group": "external.metrics.k8s.io",
                "version": "v1beta1",
                "service": {"name": KEDA_ADAPTER, "namespace": KEDA_NAMESPACE, "port": 443},
                "caBundle": base64.b64encode(ca_pem).decode(),
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
            },
        },
    ]


def keda_adapter_names(address: str) -> list[str]:
    """What the adapter's certificate names: the Service the API server dials by name (it
    checks the certificate against ``<service>.<namespace>.svc``) and the address itself."""
    return [f"{KEDA_ADAPTER}.{KEDA_NAMESPACE}.svc", address]


PROMETHEUS_JOB = "model-servers"
SCRAPE_INTERVAL_S = 5


def prometheus(binary: Path, layout: Layout, ports: Ports) -> list[str]:
    return [
        str(binary),
        f"--config.file={layout.prometheus_config}",
        f"--storage.tsdb.path={layout.prometheus_data}",
        f"--web.listen-address=127.0.0.1:{ports.prometheus}",
        "--storage.tsdb.retention.time=2d",
    ]


def prometheus_config(layout: Layout) -> str:
    """Prometheus' scrape configuration: what the PodMonitor we render (``serving.monitoring:
    podmonitor``) makes the Prometheus Operator write, by hand, since the Operator does not
    run here: our model-server pods' port ``http`` at ``/metrics``, found through the API
    server, with the Operator's target labels ``namespace``, ``pod`` and ``container``."""
    meta = "__meta_kubernetes_pod_"
    return yaml.safe_dump(
        {
            "global": {
                "scrape_interval": f"{SCRAPE_INTERVAL_S}s",
                "scrape_timeout": f"{SCRAPE_INTERVAL_S - 1}s",
                "evaluation_interval": f"{SCRAPE_INTERVAL_S}s",
            },
            "scrape_configs": [
                {
                    "job_name": PROMETHEUS_JOB,
                    "metrics_path": "/metrics",
                    "kubernetes_sd_configs": [
                        {"role": "pod", "kubeconfig_file": str(layout.kubeconfig)}
                    ],
                    "relabel_configs": [
                        {
                            "source_labels": [f"{meta}label_app_kubernetes_io_managed_by"],
                            "regex": "kubefoundry",
                            "action": "keep",
                        },
                        {
                            "source_labels": [f"{meta}container_port_name"],
                            "regex": "http",
                            "action": "keep",
                        },
                        {"source_labels": [f"{meta}phase"], "regex": "Running", "action": "keep"},
                        {
                            "source_labels": ["__meta_kubernetes_namespace"],
                            "target_label": "namespace",
                        },
                        {"source_labels": [f"{meta}name"], "target_label": "pod"},
                        {"source_labels": [f"{meta}container_name"], "target_label": "container"},
                    ],
                }
            ],
        },
        sort_keys=False,
    )


def in_kserve_namespace(obj: dict[str, Any]) -> dict[str, Any]:
    """A KServe release object (an LLMInferenceServiceConfig preset) in KServe's namespace."""
    return {**obj, "metadata": {**obj["metadata"], "namespace": KSERVE_NAMESPACE}}


def webhooks_at(
    configurations: list[dict[str, Any]], url: str, ca_pem: bytes
) -> list[dict[str, Any]]:
    """An operator's own webhook configurations, each service reference replaced by ``url``
    (the loopback server) with the path it named, trusting ``ca_pem``."""
    bundle = base64.b64encode(ca_pem).decode()
    out = []
    for configuration in configurations:
        hooks = []
        for hook in configuration.get("webhooks", []):
            path = hook["clientConfig"].get("service", {}).get("path", "")
            hooks.append({**hook, "clientConfig": {"url": url + path, "caBundle": bundle}})
        out.append({**configuration, "webhooks": hooks})
    return out


def controller_stand_in(stand_in: StandIn) -> list[dict[str, Any]]:
    """Its namespace and a Deployment standing, in the cluster, for a controller the sandbox
    runs as a process on this machine: its chart's name and pod labels, one pod that kwok runs
    on the system node (it requests nothing and does nothing; the image is never pulled)."""
    name, namespace, labels = stand_in.name, stand_in.namespace, stand_in.labels
    space = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {"kubefoundry.io/sandbox-stand-in": "runs as a process: sandbox status"},
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {"cloud.google.com/gke-nodepool": "system"},
                    "containers": [{"name": "manager", "image": "registry.k8s.io/pause:3.10"}],
                },
            },
        },
    }
    return [space, deployment]


LWS_POD_SELECTOR = {
    "matchExpressions": [{"key": "leaderworkerset.sigs.k8s.io/name", "operator": "Exists"}]
}


def lws_webhooks(ports: Ports, ca_pem: bytes) -> list[dict[str, Any]]:
    """LWS's webhook configurations (its config/webhook), calling the loopback server."""
    bundle = base64.b64encode(ca_pem).decode()

    def hook(name: str, path: str, group: str, resource: str) -> dict[str, Any]:
        return {
            "name": name,
            "admissionReviewVersions": ["v1"],
            "clientConfig": {
                "url": f"https://127.0.0.1:{ports.lws_webhook}{path}",
                "caBundle": bundle,
            },
            "failurePolicy": "Fail",
            "sideEffects": "None",
            "rules": [
                {
                    "apiGroups": [group],
                    "apiVersions": ["v1"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": [resource],
                }
            ],
            **({"objectSelector": LWS_POD_SELECTOR} if resource == "pods" else {}),
        }

    lws_path = "leaderworkerset-x-k8s-io-v1-leaderworkerset"
    group = "leaderworkerset.x-k8s.io"
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": "lws-mutating-webhook-configuration"},
            "webhooks": [
                hook("mleaderworkerset.kb.io", f"/mutate-{lws_path}", group, "leaderworkersets"),
                hook("mpod.kb.io", "/mutate--v1-pod", "", "pods"),
            ],
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "lws-validating-webhook-configuration"},
            "webhooks": [
                hook("vleaderworkerset.kb.io", f"/validate-{lws_path}", group, "leaderworkersets"),
                hook("vpod.kb.io", "/validate--v1-pod", "", "pods"),
            ],
        },
    ]


def kubeconfig(*, server: str, token: str, ca_pem: bytes) -> str:
    """A kubeconfig for the admin user, with the server's certificate embedded (so a copy
    works from anywhere)."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": CONTEXT,
                    "cluster": {
                        "server": server,
                        "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                    },
                }
            ],
            "users": [{"name": "admin", "user": {"token": token}}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": "admin"}}],
            "current-context": CONTEXT,
        },
        sort_keys=False,
    )
