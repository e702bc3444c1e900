"""The sandbox's real operators: their CRDs replace ours by name, and each stand-in shows
discovery exactly the pod label its runtime declares (so "running" in the sandbox is read
the way it is read in a cluster, not by a rule of the sandbox's own)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubefoundry.core.errors import InvalidInputError
from kubefoundry.runtimes import registry
from kubefoundry.sandbox import building, components, starting


def _crd(folder: Path, file: str, name: str, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file
    body = {"kind": "CustomResourceDefinition", "metadata": {"name": name}, "spec": {"v": version}}
    path.write_text(yaml.safe_dump(body))
    return path


def test_an_operators_own_crds_replace_ours_by_name(tmp_path: Path) -> None:
    ours = [
        _crd(tmp_path / "ours", "rayservices.ray.io.yaml", "rayservices.ray.io", "ours"),
        _crd(tmp_path / "ours", "workspaces.kaito.sh.yaml", "workspaces.kaito.sh", "ours"),
    ]
    # controller-gen's file names (group_plural.yaml), as in the operator's module.
    module = tmp_path / "module"
    _crd(module, "ray.io_rayservices.yaml", "rayservices.ray.io", "v1.6.2")
    _crd(module, "ray.io_rayjobs.yaml", "rayjobs.ray.io", "v1.6.2")
    operator = building.Operator(binary=tmp_path / "ray-operator", crds=module)
    layout = components.Layout(tmp_path / "sandbox")

    files = starting._with_operator_crds(ours, {"kuberay": operator}, layout)

    # Installed under <plural>.<group>.yaml, the name the install waits on.
    assert sorted(p.name for p in files) == [
        "rayjobs.ray.io.yaml",
        "rayservices.ray.io.yaml",
        "workspaces.kaito.sh.yaml",
    ]
    by_name = {p.stem: yaml.safe_load(p.read_text())["spec"]["v"] for p in files}
    assert by_name == {
        "rayservices.ray.io": "v1.6.2",  # the operator's release, not our newer copy
        "rayjobs.ray.io": "v1.6.2",  # which ours lacks and the operator needs
        "workspaces.kaito.sh": "ours",
    }
    assert starting._with_operator_crds(ours, {}, layout) == ours


@pytest.mark.parametrize("key", sorted(components.STAND_INS))
def test_each_stand_in_carries_the_pod_label_its_runtime_declares(key: str) -> None:
    (operator,) = [o for o in registry.default().operators() if o.key == key]
    assert operator.controller is not None
    selectors = [dict(p.split("=", 1) for p in s.split(",")) for s in operator.controller.pods]
    stand_in = components.STAND_INS[key]
    assert any(selector.items() <= stand_in.labels.items() for selector in selectors), (
        key,
        operator.controller.pods,
    )
    namespace, deployment = components.controller_stand_in(stand_in)
    assert namespace["metadata"]["name"] == deployment["metadata"]["namespace"]
    template = deployment["spec"]["template"]
    assert template["metadata"]["labels"] == stand_in.labels
    assert not template["spec"]["containers"][0].get("resources")  # takes no GPU


def test_an_unknown_operator_is_refused_before_any_build() -> None:
    with pytest.raises(InvalidInputError, match="Unknown sandbox operator dynamo"):
        building.build(operators=("dynamo",))


def test_an_operators_webhooks_are_called_at_the_loopback_url_with_their_own_paths() -> None:
    """KServe's config/webhook/manifests.yaml shape: service references, selectors, rules."""
    theirs = [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": "inferenceservice.serving.kserve.io"},
            "webhooks": [
                {
                    "name": "inferenceservice.kserve-webhook-server.pod-mutator",
                    "clientConfig": {
                        "service": {"name": "$(webhookServiceName)", "path": "/mutate-pods"}
                    },
                    "objectSelector": {"matchExpressions": [{"key": "k", "operator": "Exists"}]},
                    "failurePolicy": "Fail",
                }
            ],
        },
        {"kind": "ValidatingWebhookConfiguration", "metadata": {"name": "empty"}},
    ]
    mutating, empty = components.webhooks_at(theirs, "https://127.0.0.1:9443", b"PEM")
    (hook,) = mutating["webhooks"]
    assert hook["clientConfig"] == {"url": "https://127.0.0.1:9443/mutate-pods", "caBundle": "UEVN"}
    assert hook["objectSelector"] == theirs[0]["webhooks"][0]["objectSelector"]
    assert hook["failurePolicy"] == "Fail"
    assert empty["webhooks"] == []
    assert "url" not in theirs[0]["webhooks"][0]["clientConfig"]  # theirs left as they were


def test_kserves_configmap_is_its_release_in_standard_mode() -> None:
    release = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "inferenceservice-config", "namespace": "elsewhere"},
        "data": {"deploy": '{"defaultDeploymentMode": "Serverless"}', "ingress": "{}"},
    }
    config = components.kserve_config(release)
    assert config["metadata"] == {"name": "inferenceservice-config", "namespace": "kserve"}
    assert yaml.safe_load(config["data"]["deploy"]) == {"defaultDeploymentMode": "Standard"}
    assert config["data"]["ingress"] == "{}"
    assert "Serverless" in release["data"]["deploy"]  # the release's own copy untouched


def test_the_sandboxs_scrape_config_is_what_our_podmonitor_asks_for(tmp_path: Path) -> None:
    """The Prometheus Operator does not run in the sandbox, so its Prometheus is configured by
    hand: it must scrape what the PodMonitor we render names (its port and path, our pods by
    their labels) and label targets as the Operator does (``namespace``, which our KEDA
    queries filter on)."""
    from tests.support import rendering

    from kubefoundry.runtimes import base as runtime_base

    plan = rendering.plan("qwen2.5-7b", runtime="vllm", namespace="ml")
    rendered = (
        registry.default().get("vllm").render(plan, runtime_base.Options(monitoring="podmonitor"))
    )
    (monitor,) = [m for m in rendered.manifests if m["kind"] == "PodMonitor"]
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    (workload,) = [m for m in rendered.manifests if m["kind"] == "Deployment"]
    pod_labels = workload["spec"]["template"]["metadata"]["labels"]

    config = yaml.safe_load(components.prometheus_config(components.Layout(tmp_path)))
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == endpoint["path"]
    keep = {r["source_labels"][0]: r["regex"] for r in job["relabel_configs"] if "action" in r}
    assert keep["__meta_kubernetes_pod_container_port_name"] == endpoint["port"]
    label = "app.kubernetes.io/managed-by"
    assert keep["__meta_kubernetes_pod_label_app_kubernetes_io_managed_by"] == pod_labels[label]
    targets = {r["target_label"] for r in job["relabel_configs"] if "target_label" in r}
    assert {"namespace", "pod", "container"} <= targets
    assert job["kubernetes_sd_configs"] == [
        {"role": "pod", "kubeconfig_file": str(tmp_path / "kubeconfig")}
    ]


def test_kedas_metrics_adapter_is_registered_at_the_address_it_serves() -> None:
    objects = components.keda_adapter_objects("192.0.2.2", 23456, b"PEM")
    service, endpoints, registration = objects
    assert registration["metadata"]["name"] == components.EXTERNAL_METRICS
    spec = registration["spec"]
    assert (spec["group"], spec["version"]) == ("external.metrics.k8s.io", "v1beta1")
    ref = spec["service"]
    assert (ref["name"], ref["namespace"]) == (
        service["metadata"]["name"],
        service["metadata"]["namespace"],
    )
    (port,) = service["spec"]["ports"]
    assert ref["port"] == port["port"]
    assert "selector" not in service["spec"]
    (subset,) = endpoints["subsets"]
    assert subset["addresses"] == [{"ip": "192.0.2.2"}]
    assert subset["ports"] == [{"name": port["name"], "port": 23456}]
    assert port["targetPort"] == 23456
    # The API server checks the adapter's certificate against <service>.<namespace>.svc.
    names = components.keda_adapter_names("192.0.2.2")
    assert {f"{ref['name']}.{ref['namespace']}.svc", "192.0.2.2"} <= set(names)
