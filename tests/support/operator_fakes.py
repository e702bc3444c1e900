"""FAKES of what a running operator's controller leaves in the cluster, for tests only.

Discovery counts a runtime as installed only where its operator's controller runs
(``deploy.controllers``): a held, fresh leader-election Lease, ready controller pods, a ready
webhook endpoint, or, for InferencePool, a GatewayClass an implementing Gateway controller
accepted. The sandbox runs the real LeaderWorkerSet, KubeRay, KAITO and KServe controllers,
each seen through a stand-in Deployment (``sandbox/components.controller_stand_in``); no
Dynamo controller and no Gateway controller runs there, so they leave none of those signs.
Where a test deploys through such a runtime (and writes the operator's status by hand, as
its own fake), these stand in for the controller's sign, named as fakes in the objects themselves:

- ``lease``: the operator's declared Lease, held by ``HOLDER``, for ``duration_s``;
- ``accepted_gateway_class``: a GatewayClass of a controller that implements InferencePool,
  marked Accepted as that controller would (with a stand-in GatewayClass CRD where the
  sandbox has none);
- ``dynamo_scaling_adapters``: the DynamoGraphDeploymentScalingAdapters the Dynamo operator
  would make for a graph (``tests/support/dynamo_fake``'s documented rule), on a stand-in of
  their CRD with the real one's scale subresource (the sandbox installs none).

Each is removed when its ``with`` block ends, so a test that looks for a missing controller
sees none.
"""

from __future__ import annotations

import contextlib
import datetime
import time
from collections.abc import Iterator
from typing import Any

from kubernetes import client
from tests.support import dynamo_fake

from kubefoundry.runtimes import registry

NAMESPACE = "kf-fake-leases"
HOLDER = "kubefoundry-test-fake (no real controller: the test writes its status)"


def _ensure_namespace(core: client.CoreV1Api) -> None:
    try:
        core.create_namespace({"metadata": {"name": NAMESPACE}})
    except client.ApiException as exc:
        if exc.status != 409:
            raise


@contextlib.contextmanager
def lease(
    api: client.ApiClient, key: str, *, duration_s: int = 3600, holder: str = HOLDER
) -> Iterator[str]:
    """The leader-election Lease ``key``'s operator declares, held and just renewed."""
    operator = next(o for o in registry.default().operators() if o.key == key)
    assert operator.controller is not None, key
    assert operator.controller.leases, key
    name = operator.controller.leases[0]
    _ensure_namespace(client.CoreV1Api(api))
    leases = client.CoordinationV1Api(api)
    now = datetime.datetime.now(datetime.UTC)
    body = {
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": duration_s,
            "acquireTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "renewTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
    }
    leases.create_namespaced_lease(NAMESPACE, body)
    try:
        yield name
    finally:
        leases.delete_namespaced_lease(name, NAMESPACE)


# The sandbox installs the Gateway and HTTPRoute CRDs, not GatewayClass's: a stand-in CRD
# (any fields, with the status subresource a controller writes through), removed afterwards.
GATEWAY_CLASS_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {
        "name": "gatewayclasses.gateway.networking.k8s.io",
        # k8s.io groups need it; the real Gateway API CRDs carry the same.
        "annotations": {
            "api-approved.kubernetes.io": "https://github.com/kubernetes-sigs/gateway-api/pull/4530"
        },
    },
    "spec": {
        "group": "gateway.networking.k8s.io",
        "names": {
            "kind": "GatewayClass",
            "listKind": "GatewayClassList",
            "plural": "gatewayclasses",
            "singular": "gatewayclass",
        },
        "scope": "Cluster",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


@contextlib.contextmanager
def _gateway_class_crd(api: client.ApiClient) -> Iterator[None]:
    with _crd(api, GATEWAY_CLASS_CRD):
        yield


@contextlib.contextmanager
def _crd(api: client.ApiClient, body: dict[str, Any]) -> Iterator[None]:
    """A stand-in CRD for the block, unless the sandbox already has one of that name."""
    crds = client.ApiextensionsV1Api(api)
    name = body["metadata"]["name"]
    try:
        crds.read_custom_resource_definition(name)
        yield  # already there (a sandbox that installs it): leave it
        return
    except client.ApiException as exc:
        if exc.status != 404:
            raise
    crds.create_custom_resource_definition(body)
    deadline = time.monotonic() + 30
    while not any(
        c.type == "Established" and c.status == "True"
        for c in crds.read_custom_resource_definition(name).status.conditions or []
    ):
        assert time.monotonic() < deadline, f"the {name} CRD was not established in 30s"
        time.sleep(0.2)
    try:
        yield
    finally:
        crds.delete_custom_resource_definition(name)


def _adapter_version(name: str, *, storage: bool) -> dict[str, Any]:
    return {
        "name": name,
        "served": True,
        "storage": storage,
        # The real CRD's scale subresource: what KEDA's HPA reads and writes.
        "subresources": {
            "status": {},
            "scale": {
                "specReplicasPath": ".spec.replicas",
                "statusReplicasPath": ".status.replicas",
                "labelSelectorPath": ".status.selector",
            },
        },
        "schema": {
            "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        },
    }


ADAPTER_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "dynamographdeploymentscalingadapters.nvidia.com"},
    "spec": {
        "group": dynamo_fake.GROUP,
        "names": {
            "kind": dynamo_fake.ADAPTER_KIND,
            "listKind": f"{dynamo_fake.ADAPTER_KIND}List",
            "plural": "dynamographdeploymentscalingadapters",
            "singular": "dynamographdeploymentscalingadapter",
        },
        "scope": "Namespaced",
        "versions": [
            _adapter_version("v1alpha1", storage=False),
            _adapter_version("v1beta1", storage=True),
        ],
    },
}


@contextlib.contextmanager
def dynamo_scaling_adapters(
    api: client.ApiClient, manifests: list[dict[str, Any]], *, namespace: str
) -> Iterator[list[dict[str, Any]]]:
    """FAKE: the adapters Dynamo's operator would make for the graphs among ``manifests``,
    created in ``namespace`` (and the stand-in CRD they need) for the block."""
    objects = client.CustomObjectsApi(api)
    plural = ADAPTER_CRD["spec"]["names"]["plural"]
    with _crd(api, ADAPTER_CRD):
        made = []
        for adapter in dynamo_fake.adapters(manifests):
            adapter["metadata"]["annotations"] = {"kubefoundry.io/fake": HOLDER}
            made.append(
                objects.create_namespaced_custom_object(
                    dynamo_fake.GROUP, "v1beta1", namespace, plural, adapter
                )
            )
        yield made


@contextlib.contextmanager
def accepted_gateway_class(
    api: client.ApiClient, *, controller: str = "kgateway.dev/kgateway"
) -> Iterator[str]:
    """A GatewayClass of ``controller`` (one that implements InferencePool), Accepted."""
    objects = client.CustomObjectsApi(api)
    group, version, plural, name = "gateway.networking.k8s.io", "v1", "gatewayclasses", "kf-fake"
    body = {
        "apiVersion": f"{group}/{version}",
        "kind": "GatewayClass",
        "metadata": {"name": name, "annotations": {"kubefoundry.io/fake": HOLDER}},
        "spec": {"controllerName": controller},
    }
    with _gateway_class_crd(api):
        created = objects.create_cluster_custom_object(group, version, plural, body)
        condition = {
            "type": "Accepted",
            "status": "True",
            "reason": "Accepted",
            "message": HOLDER,
            "lastTransitionTime": "2026-01-01T00:00:00Z",
            "observedGeneration": created["metadata"].get("generation", 1),
        }
        objects.patch_cluster_custom_object_status(
            group, version, plural, name, {"status": {"conditions": [condition]}}
        )
        try:
            yield name
        finally:
            objects.delete_cluster_custom_object(group, version, plural, name)
