"""A deploy that cannot succeed says so at once (issue 11), tried in the sandbox through the
real ``kubefoundry`` command: a plan bigger than the cluster, pods nothing will place, a
runtime whose operator is not running, a namespace that does not exist, a user with the
``view`` role, progress in a log that is not a terminal, and a stalled API server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from kubernetes import client
from tests.integration.test_cli_cluster import kf
from tests.support import controlplane, operator_fakes, rbac
from tests.support.deploys import gateway

from kubefoundry.sandbox import components

H100_SELECTOR = {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}


def test_a_plan_bigger_than_the_cluster_is_refused_before_anything_is_applied(
    control_plane: controlplane.ControlPlane, namespace: str, api_client: client.ApiClient
) -> None:
    began = time.monotonic()
    code, _, err = kf(control_plane, "deploy", "llama-3.1-405b", "--gpu", "H100", "-n", namespace)
    took = time.monotonic() - began
    said = " ".join(err.split())
    assert code != 0, err
    assert took < 60, f"took {took:.0f}s"
    assert "needs 32 H100-80GB-SXM GPUs (2 replicas × 16); the cluster has 16 in all" in said, err
    assert "nothing to add nodes to it" in said
    assert "Nothing was applied" in said
    assert "--replicas 1" in said
    assert "Traceback" not in err
    apps = client.AppsV1Api(api_client)
    assert apps.list_namespaced_deployment(namespace).items == []


@pytest.fixture
def h100s_taken(api_client: client.ApiClient, namespace: str) -> Iterator[None]:
    """Every H100 of the sandbox held by two pods of 8 GPUs (kwok runs them)."""
    core = client.CoreV1Api(api_client)
    for i in range(2):
        core.create_namespaced_pod(
            namespace,
            {
                "metadata": {"name": f"holder-{i}"},
                "spec": {
                    "nodeSelector": H100_SELECTOR,
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
                    "containers": [
                        {
                            "name": "hold",
                            "image": "busybox",
                            "resources": {"limits": {"nvidia.com/gpu": "8"}},
                        }
                    ],
                },
            },
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod(namespace).items
        if sum(p.spec.node_name is not None for p in pods) == 2:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the holder pods were not scheduled within 60s (H100s busy elsewhere?)")
    yield
    for i in range(2):
        core.delete_namespaced_pod(f"holder-{i}", namespace, grace_period_seconds=0)


def _deploy(
    control_plane: controlplane.ControlPlane, namespace: str, *pins: str
) -> tuple[int, str, str, float]:
    """``kubefoundry deploy qwen2.5-0.5b PINS`` into ``namespace`` (no monitoring, a 110 s
    budget): its exit code, stderr, stderr on one line, and how long it took."""
    began = time.monotonic()
    code, _, err = kf(
        control_plane, "deploy", "qwen2.5-0.5b", *pins, "-n", namespace,
        "--monitoring", "none", "--timeout", "110",
    )  # fmt: skip
    return code, err, " ".join(err.split()), time.monotonic() - began


def test_pods_nothing_will_place_fail_within_a_minute_with_the_shortfall(
    control_plane: controlplane.ControlPlane, namespace: str, h100s_taken: None
) -> None:
    code, err, said, took = _deploy(control_plane, namespace, "--gpu", "H100", "--runtime", "vllm")
    assert code == 1, err
    assert took < 60, f"took {took:.0f}s: {err}"
    assert "cannot be scheduled: each asks for 1 nvidia.com/gpu" in said, err
    assert "pool h100 has 16 H100-80GB-SXM in all (2 nodes × 8), 0 free" in said, err
    assert "Karpenter manages other node pools, not this one" in said
    code, out, err = kf(
        control_plane, "status", "qwen2-5-0-5b-instruct", "-n", namespace, "-o", "json"
    )
    assert code == 1, err  # status exits non-zero for a failed deployment
    assert json.loads(out)["phase"] == "failed"
    print(f"unschedulable deploy failed in {took:.1f}s")


def test_a_runtime_with_only_its_crds_is_refused_before_anything_is_applied(
    control_plane: controlplane.ControlPlane, namespace: str, api_client: client.ApiClient
) -> None:
    """Dynamo's CRDs are installed in the sandbox, its operator is not (it is not served as a
    Go module): the planner will not pick it, and pinned it is refused at once with what to
    install."""
    code, err, said, took = _deploy(control_plane, namespace, "--runtime", "dynamo")
    assert code == 2, err
    assert took < 30, f"took {took:.0f}s"
    assert "only dynamo's CRDs are installed" in said, err
    assert "the Dynamo operator is not running" in said
    assert "install the dynamo-platform Helm chart" in said
    assert "Traceback" not in err
    objects = client.CustomObjectsApi(api_client)
    found = objects.list_namespaced_custom_object(
        "nvidia.com", "v1alpha1", namespace, "dynamographdeployments"
    )
    assert found["items"] == []


def test_a_runtime_whose_operator_is_not_acting_fails_within_about_a_minute(
    control_plane: controlplane.ControlPlane, namespace: str, api_client: client.ApiClient
) -> None:
    """A controller seen (its Lease held, by a fake) that never acts on the root: the
    deploy fails after about a minute, naming the operator."""
    with operator_fakes.lease(api_client, "dynamo"):
        code, err, said, took = _deploy(control_plane, namespace, "--runtime", "dynamo")
    assert code == 1, err
    assert took < 100, f"took {took:.0f}s"
    assert "has had no status and no pods for" in said, err
    assert "dynamo's controller is not running" in said
    print(f"operator-less dynamo deploy failed in {took:.1f}s")


def test_a_namespace_that_does_not_exist_is_said_first(
    control_plane: controlplane.ControlPlane, namespace: str
) -> None:
    typo = namespace[:-1] + ("x" if namespace[-1] != "x" else "y")
    for args in (("status", "anything"), ("delete", "anything"), ("ls",)):
        code, _, err = kf(control_plane, *args, "-n", typo)
        first = err.splitlines()[0]
        assert code == 2, err
        assert first.startswith(f"Error: Unknown namespace '{typo}'. Did you mean: {namespace}")
        assert "does not exist" in err
        assert "Unknown deployment" not in err
        assert "operator" not in err


def test_progress_is_printed_as_plain_lines_when_stderr_is_not_a_terminal(
    control_plane: controlplane.ControlPlane, namespace: str
) -> None:
    code, _, err = kf(
        control_plane, "deploy", "qwen2.5-0.5b", "-n", namespace, "--monitoring", "none",
        "--runtime", "vllm", "--gpu", "L4", "--timeout", "100",
    )  # fmt: skip
    assert code == 0, err
    lines = [line for line in err.splitlines() if line[:2].isdigit() and line[2] == ":"]
    assert lines, f"no progress line in: {err}"
    assert lines[-1].split(" ", 1)[1].startswith("ready (")
    assert "\x1b[" not in err  # no cursor movement or colour in a log


def _kubeconfig_for(plane: controlplane.ControlPlane, token: str, where: os.PathLike[str]) -> str:
    path = os.fspath(where)
    with open(path, "w") as f:
        f.write(
            components.kubeconfig(
                server=plane.server, token=token, ca_pem=plane.ca_file.read_bytes()
            )
        )
    return path


def test_a_user_with_the_view_role_lists_and_reads_and_is_told_what_is_hidden(
    control_plane: controlplane.ControlPlane,
    namespace: str,
    api_client: client.ApiClient,
    tmp_path: os.PathLike[str],
) -> None:
    code, _, err = kf(
        control_plane, "deploy", "qwen2.5-0.5b", "-n", namespace, "--no-wait",
        "--monitoring", "none", "--runtime", "vllm", "--gpu", "L4",
    )  # fmt: skip
    assert code == 0, err
    core, authz = client.CoreV1Api(api_client), client.RbacAuthorizationV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "viewer"}})
    authz.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "viewer-views"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "view",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": namespace}],
        },
    )
    token = rbac.sa_token(core, "viewer", namespace)
    config = _kubeconfig_for(control_plane, token, os.path.join(tmp_path, "viewer"))

    def as_viewer(*args: str) -> tuple[int, str, str]:
        from tests.cli.test_cli import run

        result = run(*args, "--kubeconfig", config)
        return result.returncode, result.stdout, result.stderr

    code, out, err = as_viewer("ls", "-n", namespace, "-o", "json")
    assert code == 0, err
    assert [r["name"] for r in json.loads(out)] == ["qwen2-5-0-5b-instruct"]
    assert "you may not list" in err, err
    assert "LeaderWorkerSet" in err
    code, out, err = as_viewer("status", "qwen2-5-0-5b-instruct", "-n", namespace, "-o", "json")
    assert code == 0, err
    assert json.loads(out)["phase"] != "failed"
    code, _, err = as_viewer("delete", "qwen2-5-0-5b-instruct", "-n", namespace)
    said = " ".join(err.split())
    assert code != 0
    assert "delete" in said, err
    assert "Deployment" in said
    assert "Traceback" not in err
    assert token not in err
    apps = client.AppsV1Api(api_client)
    assert [d.metadata.name for d in apps.list_namespaced_deployment(namespace).items] == [
        "qwen2-5-0-5b-instruct"
    ]


def test_a_stalled_api_server_ends_the_watch_when_timeout_says(
    control_plane: controlplane.ControlPlane, namespace: str, api_client: client.ApiClient
) -> None:
    """SIGSTOP the sandbox's kube-apiserver while ``status --watch --timeout`` follows a
    deployment that is not ready (pods no node takes): the command ends a few seconds after its
    timeout and says so; SIGCONT in any case."""
    code, _, err = kf(
        control_plane, "deploy", "qwen2.5-0.5b", "-n", namespace, "--no-wait",
        "--monitoring", "none", "--runtime", "vllm", "--gpu", "L4",
    )  # fmt: skip
    assert code == 0, err
    # Pods that no node will take (a label none has): scheduling for ever, never failed.
    client.AppsV1Api(api_client).patch_namespaced_deployment(
        "qwen2-5-0-5b-instruct",
        namespace,
        {
            "spec": {
                "strategy": {"type": "Recreate", "rollingUpdate": None},
                "template": {"spec": {"nodeSelector": {"kubefoundry.io/nowhere": "true"}}},
            }
        },
    )
    (apiserver,) = [p for p in control_plane.processes if p.name == "kube-apiserver"]
    timeout = 20
    began = time.monotonic()
    watcher = subprocess.Popen(
        [sys.executable, "-m", "kubefoundry.cli", "status", "qwen2-5-0-5b-instruct",
         "-n", namespace, "--watch", "--timeout", str(timeout),
         "--kubeconfig", str(control_plane.kubeconfig)],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert watcher.stderr is not None
    first = watcher.stderr.readline()  # the first phase line: the streams are open
    stopped = time.monotonic()
    os.kill(apiserver.pid, signal.SIGSTOP)
    try:
        try:
            _, rest = watcher.communicate(timeout=timeout + 30)
        except subprocess.TimeoutExpired:
            watcher.kill()
            pytest.fail(f"still running {timeout + 30}s after a --timeout of {timeout}s")
        took = time.monotonic() - began
    finally:
        os.kill(apiserver.pid, signal.SIGCONT)
    err = first + rest
    print(f"stalled for {took - (stopped - began):.1f}s; the command ended after {took:.1f}s")
    assert watcher.returncode == 1, err
    assert took < timeout + 8, f"ended {took:.1f}s after start with --timeout {timeout}: {err}"
    assert "failed" in err
    assert "not ready after" in err, err  # the budget left once discovery is done
    assert "Traceback" not in err
    # The API server answers again: the rest of the session is unaffected.
    deadline = time.monotonic() + 30
    while True:
        try:
            client.CoreV1Api(api_client).read_namespace(namespace, _request_timeout=5)
            break
        except Exception:
            assert time.monotonic() < deadline, "the API server did not come back"
            time.sleep(0.5)


def test_a_route_to_a_gateway_that_does_not_exist_is_refused_before_anything_is_applied(
    control_plane: controlplane.ControlPlane, namespace: str, api_client: client.ApiClient
) -> None:
    """llm-d's HTTPRoute attaches to the Gateway `inference-gateway`, which this namespace
    lacks: the route would be stored and serve nothing. Refused, naming the Gateway and both
    ways out; a Gateway in another namespace, named NAMESPACE/NAME, is found."""
    with operator_fakes.accepted_gateway_class(api_client):  # FAKE: llm-d's Gateway controller
        code, err, said, took = _deploy(control_plane, namespace, "--runtime", "llmd")
        assert code == 2, err
        assert took < 30, f"took {took:.0f}s"
        assert f"attaches to Gateway {namespace}/inference-gateway, which does not exist" in said
        assert "Nothing was applied" in said
        assert "--gateway: NAME, or NAMESPACE/NAME" in said  # the CLI words the field
        assert "Traceback" not in err
        assert client.AppsV1Api(api_client).list_namespaced_deployment(namespace).items == []
        shared = (
            "deploy", "qwen2.5-0.5b", "--runtime", "llmd", "-n", namespace,
            "--gateway", "default/shared", "--monitoring", "none", "--no-wait",
        )  # fmt: skip
        # A Gateway elsewhere that takes routes only from its own namespace (the default).
        with gateway(api_client, namespace="default", name="shared"):
            code, _, err = kf(control_plane, *shared)
            said = " ".join(err.split())
            assert code == 2, err
            assert "whose listeners take routes only from namespace default" in said, err
        with gateway(api_client, namespace="default", name="shared", routes_from="All"):
            code, _, err = kf(control_plane, *shared)
    assert code == 0, err
    route = client.CustomObjectsApi(api_client).list_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", namespace, "httproutes"
    )["items"][0]
    (parent,) = route["spec"]["parentRefs"]  # the API server defaults group and kind
    assert (parent["namespace"], parent["name"], parent["kind"]) == ("default", "shared", "Gateway")
