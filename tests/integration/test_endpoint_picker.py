"""The Gateway API inference extension's endpoint picker (``cmd/epp`` v1.5.0) judges the picker
we render for llm-d (issue 11): run with the rendered Deployment's command-line flags and
environment, the rendered ConfigMap's plugin configuration and the rights of the rendered
ServiceAccount, Role and RoleBinding, against the InferencePool we deployed.

What we render runs ``ghcr.io/llm-d/llm-d-router-endpoint-picker``, llm-d's build of this same
picker, which the Go module proxy here does not serve. Its plugin configuration is the same
``EndpointPickerConfig`` under llm-d's API group (``llm-d.ai/v1alpha1``); the upstream picker
decodes it strictly under its own (``inference.networking.x-k8s.io/v1alpha1``), so the test
swaps the group. The same move put InferenceObjectives under ``llm-d.ai``, which our Role
lets the picker read; the upstream picker watches them under its own group, and its
controllers start only once that watch is allowed, so the test grants our Role's objectives
rule under the upstream group too (a second Role, made here). Nothing else is changed: the
flags, the environment and the rest of the rights are the rendered ones. (GIE v1.6 moved the
picker out to llm-d-router, which the module proxy here does not serve: v1.5.0 is the last
upstream picker.) Prefill/decode disaggregation's plugins (prefill-filter,
decode-filter, the P/D decider and profile handler) are llm-d's own, not upstream's: the
disaggregated configuration is judged by the engine-option data only.

A kwok pod runs nothing, so the picker runs here as a process, on loopback ports. It scrapes
the model servers at their pod addresses (the sandbox's pod range), where no model server
answers; the pool's pods it lists are what it read from the API server.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families
from tests.support import controlplane, operator_fakes
from tests.support.browser import free_port
from tests.support.deploys import deploy, eventually, gateway

from kubefoundry.cluster import connecting
from kubefoundry.core import identity
from kubefoundry.deploy import deploying
from kubefoundry.sandbox import building

UPSTREAM_CONFIG = "inference.networking.x-k8s.io/v1alpha1"
UPSTREAM_OBJECTIVES = "inference.networking.x-k8s.io"
SETTLE_S = 120.0


@pytest.fixture(scope="module")
def picker() -> Path:
    return building.endpoint_picker(root=controlplane.REPO)


def _rendered(done: deploying.Deployed, kind: str, component: str) -> dict[str, Any]:
    (found,) = (
        m
        for m in done.result.rendered.manifests
        if m["kind"] == kind
        and m["metadata"]["labels"].get("app.kubernetes.io/component") == component
    )
    return found


def _grant_objectives_upstream(conn: connecting.Connection, role: dict[str, Any]) -> None:
    """Our Role's rule for llm-d.ai's InferenceObjectives, under the upstream picker's group,
    in a Role of the test's bound to the same ServiceAccount."""
    (rule,) = (r for r in role["rules"] if r["apiGroups"] == ["llm-d.ai"])
    namespace, name = role["metadata"]["namespace"], f"{role['metadata']['name']}-upstream"
    rbac = client.RbacAuthorizationV1Api(conn.api)
    rbac.create_namespaced_role(
        namespace,
        {"metadata": {"name": name}, "rules": [{**rule, "apiGroups": [UPSTREAM_OBJECTIVES]}]},
    )
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}
    account = {"kind": "ServiceAccount", "name": role["metadata"]["name"]}
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": name},
            "roleRef": ref,
            "subjects": [{**account, "namespace": namespace}],
        },
    )


def _kubeconfig(
    path: Path, sandbox: controlplane.ControlPlane, namespace: str, account: str
) -> Path:
    """A kubeconfig that acts as ``account``: a token the API server issues for it, so the
    picker has the rights our Role grants and no more."""
    issued = client.CoreV1Api(
        connecting.connect(connecting.Target(kubeconfig=sandbox.kubeconfig)).api
    ).create_namespaced_service_account_token(
        account, namespace, {"spec": {"expirationSeconds": 3600}}
    )
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "sandbox",
                "cluster": {
                    "server": sandbox.server,
                    "certificate-authority": str(sandbox.ca_file),
                },
            }
        ],
        "users": [{"name": account, "user": {"token": issued.status.token}}],
        "contexts": [{"name": account, "context": {"cluster": "sandbox", "user": account}}],
        "current-context": account,
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def _flags(args: list[str], config: Path, ports: dict[str, int]) -> list[str]:
    """The rendered flags with the config file's path and the ports made local, and the
    metrics port (rendered as the picker's default) on a free one."""
    out = list(args)
    out[out.index("--config-file") + 1] = str(config)
    for flag in ("--grpc-port", "--grpc-health-port"):
        out[out.index(flag) + 1] = str(ports[flag])
    return [*out, "--metrics-port", str(ports["--metrics-port"])]


@pytest.fixture
def running(picker: Path, tmp_path: Path) -> Iterator[Any]:
    started: list[subprocess.Popen[bytes]] = []

    def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (tmp_path / "epp.log").open("wb") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen([str(picker), *args], env=env, stdout=log, stderr=log)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(timeout=30)


def _pool_pods(port: int, pool: str) -> set[str]:
    """The model-server pods the picker lists for ``pool`` on its own /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {
        sample.labels["model_server_pod"]
        for family in text_string_to_metric_families(text)
        if family.name == "inference_pool_per_pod_queue_size"
        for sample in family.samples
        if sample.labels.get("name") == pool
    }


def test_the_endpoint_picker_runs_with_our_flags_config_and_rights_and_finds_our_pool(
    control_plane: controlplane.ControlPlane,
    conn: connecting.Connection,
    namespace: str,
    api_client: client.ApiClient,
    running: Any,
    tmp_path: Path,
) -> None:
    with (
        operator_fakes.accepted_gateway_class(api_client),  # FAKE: llm-d's Gateway controller
        gateway(api_client, namespace=namespace, name="inference-gateway"),
    ):
        done = deploy(conn, model="qwen2.5-0.5b", runtime="llmd", gpu="L4", replicas=2)
    plan, name = done.result.plan, done.result.plan.name
    epp = _rendered(done, "Deployment", identity.ENDPOINT_PICKER)
    (container,) = epp["spec"]["template"]["spec"]["containers"]
    (config_map,) = (
        m
        for m in done.result.rendered.manifests
        if m["kind"] == "ConfigMap" and m["metadata"]["name"] == epp["metadata"]["name"]
    )
    (pool,) = (m for m in done.result.rendered.manifests if m["kind"] == "InferencePool")

    # The pods the pool selects, by the API server's own label query: the model servers.
    core = client.CoreV1Api(conn.api)
    selector = ",".join(f"{k}={v}" for k, v in pool["spec"]["selector"]["matchLabels"].items())

    def selected() -> set[str]:
        pods = core.list_namespaced_pod(namespace, label_selector=selector).items
        ready = [
            p
            for p in pods
            if p.status.pod_ip
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        ]
        return {p.metadata.name for p in ready} if len(ready) == len(pods) else set()

    eventually(
        lambda: len(selected()) == plan.replicas,
        timeout_s=SETTLE_S,
        what=f"{plan.replicas} model-server pods Ready",
    )
    # The picker keeps one endpoint per pod and pool target port that the pod declares as a
    # container port, named <pod>-rank-<index of the port>: our pool has one target port.
    assert len(pool["spec"]["targetPorts"]) == 1, pool["spec"]
    servers = {f"{pod}-rank-0" for pod in selected()}
    picker_pods = core.list_namespaced_pod(
        namespace, label_selector=f"app.kubernetes.io/component={identity.ENDPOINT_PICKER}"
    ).items
    assert picker_pods
    assert not servers & {f"{p.metadata.name}-rank-0" for p in picker_pods}

    # The configuration as rendered, under the upstream picker's group (see the docstring).
    config = yaml.safe_load(config_map["data"][Path(_value(container, "--config-file")).name])
    assert config["apiVersion"] == "llm-d.ai/v1alpha1"
    config_file = tmp_path / "epp-config.yaml"
    config_file.write_text(yaml.safe_dump({**config, "apiVersion": UPSTREAM_CONFIG}))
    role = _rendered(done, "Role", identity.ENDPOINT_PICKER)
    _grant_objectives_upstream(
        conn, {**role, "metadata": {**role["metadata"], "namespace": namespace}}
    )

    # The environment as rendered: the pod's namespace, from the downward API.
    env: dict[str, str] = {}
    for var in container["env"]:
        assert var["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}, var
        env[var["name"]] = namespace
    account = epp["spec"]["template"]["spec"]["serviceAccountName"]
    env["KUBECONFIG"] = str(_kubeconfig(tmp_path / "kubeconfig", control_plane, namespace, account))
    env["HOME"] = str(tmp_path)
    ports = {f: free_port() for f in ("--grpc-port", "--grpc-health-port", "--metrics-port")}
    proc = running(_flags(container["args"], config_file, ports), env)
    log = tmp_path / "epp.log"

    def listed() -> bool:
        assert proc.poll() is None, f"the picker exited {proc.returncode}:\n{log.read_text()}"
        try:
            return _pool_pods(ports["--metrics-port"], pool["metadata"]["name"]) == servers
        except OSError:
            return False  # not listening yet

    eventually(listed, timeout_s=60, what=f"the picker listing {sorted(servers)}")
    said = log.read_text()
    assert "forbidden" not in said.lower(), said  # our Role grants what it reads

    # It weighs the scorers as we meant: each of our profile's weights, in its own words.
    parsed = _logged(said, "parsed config")["scheduler-config"]
    (profile,) = config["schedulingProfiles"]
    weighted = [p for p in profile["plugins"] if "weight" in p]
    assert weighted, profile
    for ref in weighted:
        assert f"{ref['pluginRef']}/{ref['pluginRef']}: {ref['weight']:.6f}" in parsed, parsed
    assert "Picker: max-score-picker" in parsed, parsed

    # It follows the pool: a model server deleted is dropped from its list.
    gone = sorted(servers)[0]
    core.delete_namespaced_pod(gone.removesuffix("-rank-0"), namespace, grace_period_seconds=0)
    eventually(
        lambda: gone not in _pool_pods(ports["--metrics-port"], pool["metadata"]["name"]),
        timeout_s=60,
        what=f"the picker dropping {gone}",
    )
    assert proc.poll() is None, log.read_text()
    deploying.delete(conn, name=name, namespace=namespace)


def _value(container: dict[str, Any], flag: str) -> str:
    args = container["args"]
    return str(args[args.index(flag) + 1])


def _logged(log: str, message: str) -> dict[str, Any]:
    """The picker's JSON log record whose message is ``message`` (zap's json encoder)."""
    records = (json.loads(line) for line in log.splitlines() if line.startswith("{"))
    return next(r for r in records if r.get("msg") == message)
