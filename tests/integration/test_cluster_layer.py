"""The cluster layer against a real kube-apiserver: apply, re-apply, conflicts, partial
failures, discovery, RBAC, the token Secret, list and delete.

These tests look at the objects themselves; test_sandbox.py follows the same deployments
as their pods come up on the sandbox's fake GPU nodes.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from tests.support import controlplane, rendering

from kubefoundry.cluster import applying, connecting, errors, inspecting, secrets
from kubefoundry.core.errors import PermanentError
from kubefoundry.deploy import deploying, discovering
from kubefoundry.runtimes import base, choosing, registry

OPTIONS = base.Options(monitoring="none")  # no Prometheus operator objects needed


def connect(plane: controlplane.ControlPlane, namespace: str) -> connecting.Connection:
    return connecting.connect(connecting.Target(kubeconfig=plane.kubeconfig, namespace=namespace))


def manifests(
    runtime: str = "vllm", model: str = "qwen2.5-7b", **pins: Any
) -> list[dict[str, Any]]:
    r = registry.default().get(runtime)
    plan = choosing.adapt(rendering.plan(model, **pins), r)
    return [dict(m) for m in r.render(plan, OPTIONS).manifests]


def test_apply_then_reapply_changes_nothing(
    control_plane: controlplane.ControlPlane, namespace: str
) -> None:
    conn = connect(control_plane, namespace)
    objects = manifests()
    first = applying.apply(conn, objects)
    assert {a.action for a in first} == {"created"}
    again = applying.apply(conn, objects)
    assert {a.action for a in again} == {"unchanged"}, again


def test_a_scaler_owned_count_is_set_at_creation_and_when_the_plan_changes_it_only(
    control_plane: controlplane.ControlPlane, namespace: str
) -> None:
    conn = connect(control_plane, namespace)
    apps = client.AppsV1Api(conn.api)
    objects = manifests(replicas=2)
    (root,) = [o for o in objects if o["kind"] == "Deployment"]
    assert "replicas" not in root["spec"]  # the scaler's field, never our manager's
    applying.apply(conn, objects)
    name = root["metadata"]["name"]
    assert apps.read_namespaced_deployment(name, namespace).spec.replicas == 2
    # A scaler moves it (through the scale subresource, as the HPA controller does) ...
    apps.patch_namespaced_deployment_scale(
        name, namespace, {"spec": {"replicas": 4}}, field_manager="kube-controller-manager"
    )
    # ... and the same plan applied again leaves its choice alone,
    applying.apply(conn, objects)
    assert apps.read_namespaced_deployment(name, namespace).spec.replicas == 4
    # while a plan whose count changed (a user's scale) sets it, over the scaler's write.
    applying.apply(conn, manifests(replicas=3))
    assert apps.read_namespaced_deployment(name, namespace).spec.replicas == 3


def test_children_are_owned_by_the_root_and_the_cache_by_nobody(
    control_plane: controlplane.ControlPlane, namespace: str
) -> None:
    conn = connect(control_plane, namespace)
    applied = applying.apply(conn, manifests())
    root = next(a for a in applied if a.kind == "Deployment")
    core = client.CoreV1Api(conn.api)
    service = core.read_namespaced_service(root.name, namespace)
    assert [o.uid for o in service.metadata.owner_references] == [root.uid]
    (pvc,) = core.list_namespaced_persistent_volume_claim(namespace).items
    assert not pvc.metadata.owner_references


def test_a_field_owned_by_another_manager_is_reported_then_taken_with_force(
    control_plane: controlplane.ControlPlane, namespace: str
) -> None:
    conn = connect(control_plane, namespace)
    objects = manifests()
    applying.apply(conn, objects)
    deployment = next(m for m in objects if m["kind"] == "Deployment")
    name = deployment["metadata"]["name"]
    client.AppsV1Api(conn.api).patch_namespaced_deployment(
        name,
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            # A field we own (replicas is the ScaledObject's: we render none of it).
            "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}},
        },
        field_manager="kubectl-edit",
        force=True,
        _content_type="application/apply-patch+yaml",
    )
    with pytest.raises(PermanentError) as err:
        applying.apply(conn, objects)
    assert "kubectl-edit" in str(err.value)
    assert ".spec.strategy.rollingUpdate.maxSurge" in str(err.value)
    assert err.value.hint
    assert "--force-conflicts" in err.value.hint
    applying.apply(conn, objects, force_conflicts=True)
    live = client.AppsV1Api(conn.api).read_namespaced_deployment(name, namespace)
    assert live.spec.strategy.rolling_update.max_surge == 0  # ours again


def test_an_apply_that_fails_half_way_is_reported_and_converges_on_retry(
    control_plane: controlplane.ControlPlane, namespace: str
) -> None:
    conn = connect(control_plane, namespace)
    objects = manifests()
    service = next(m for m in objects if m["kind"] == "Service")

    def race(done: applying.Applied) -> None:
        """Someone else takes the Service's ports right after our root was written."""
        if done.kind == "Deployment":
            client.CoreV1Api(conn.api).patch_namespaced_service(
                service["metadata"]["name"],
                namespace,
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": service["metadata"]["name"]},
                    "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 9999}]},
                },
                field_manager="someone-else",
                _content_type="application/apply-patch+yaml",
            )

    with pytest.raises(applying.PartialApplyError) as err:
        applying.apply(conn, objects, progress=race)
    assert [a.kind for a in err.value.applied] == ["Deployment"]
    assert "Service/" in ", ".join(err.value.pending)
    assert "apply again" in (err.value.hint or "")
    done = applying.apply(conn, objects, force_conflicts=True)
    assert {a.kind for a in done} == {m["kind"] for m in objects}


def test_a_kind_the_cluster_does_not_serve_is_refused_before_anything_is_written(
    control_plane: controlplane.ControlPlane, namespace: str
) -> None:
    conn = connect(control_plane, namespace)
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    objects = [*manifests(), widget]
    with pytest.raises(PermanentError, match="does not serve Widget"):
        applying.apply(conn, objects)
    assert not client.AppsV1Api(conn.api).list_namespaced_deployment(namespace).items


def test_discovery_finds_every_runtimes_crd_served_at_the_servers_preferred_version(
    control_plane: controlplane.ControlPlane, namespace: str
) -> None:
    """Every operator a runtime needs is found (its CRD is served), at the version its CRD
    stores (read here from the CRD itself: a group's preferred version need not be one every
    CRD of it serves; serving.kserve.io prefers v1beta1, LLMInferenceService serves
    v1alpha1 and v1alpha2)."""
    conn = connect(control_plane, namespace)
    facts, refused = discovering.discover(conn)
    assert refused == []
    assert facts.kubernetes_version
    assert facts.kubernetes_version.startswith("v1.")
    crds = client.ApiextensionsV1Api(conn.api)
    operators = {o.key: o for o in registry.default().operators()}
    for runtime in registry.default().all():
        for need in runtime.requires:
            assert need in facts.operators, need
            crd = crds.read_custom_resource_definition(operators[need].crd)
            (stored,) = [v.name for v in crd.spec.versions if v.storage]
            assert facts.operators[need].version == stored, need
    assert facts.prometheus_operator


def test_list_and_delete_leave_only_the_model_cache(
    control_plane: controlplane.ControlPlane, namespace: str
) -> None:
    conn = connect(control_plane, namespace)
    objects = manifests("lws", "llama-3.1-405b", gpu="H100")
    applying.apply(conn, objects)
    roots = inspecting.roots(conn, deploying.ROOT_KINDS, namespace=None)
    names = [r["metadata"]["name"] for r in roots if r["metadata"]["namespace"] == namespace]
    plan_name = objects[0]["metadata"]["labels"]["kubefoundry.io/deployment"]
    assert names == [plan_name]
    deleted = deploying.delete(conn, name=plan_name, namespace=namespace)
    # The root goes first; what it owns may already be gone by garbage collection (the
    # sandbox runs kube-controller-manager) before delete reaches it by label.
    assert "LeaderWorkerSet" in {d.split("/")[0] for d in deleted}
    left = inspecting.roots(conn, deploying.ROOT_KINDS, namespace=namespace)
    assert left == []
    core = client.CoreV1Api(conn.api)
    assert [
        p.metadata.name for p in core.list_namespaced_persistent_volume_claim(namespace).items
    ] == [next(m["metadata"]["name"] for m in objects if m["kind"] == "PersistentVolumeClaim")]
    deadline = time.monotonic() + 30
    while core.list_namespaced_service(namespace).items:
        assert time.monotonic() < deadline, "Services left 30s after delete"
        time.sleep(0.5)


def test_the_token_secret_is_created_then_updated_and_never_echoed(
    control_plane: controlplane.ControlPlane, namespace: str
) -> None:
    conn = connect(control_plane, namespace)
    assert (
        secrets.ensure_token(conn, name="hf", namespace=namespace, token=rendering.CANARY)
        == "created"
    )
    assert (
        secrets.ensure_token(conn, name="hf", namespace=namespace, token=rendering.CANARY + "2")
        == "updated"
    )
    data = client.CoreV1Api(conn.api).read_namespaced_secret("hf", namespace).data
    assert base64.b64decode(data["token"]).decode() == rendering.CANARY + "2"
    assert base64.b64decode(data["HF_TOKEN"]).decode() == rendering.CANARY + "2"


def _reader_kubeconfig(plane: controlplane.ControlPlane, namespace: str, tmp_path: Path) -> Path:
    """A ServiceAccount that may only read ``namespace``, with a kubeconfig of its own."""
    with connect(plane, namespace).api as api:
        core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
        core.create_namespaced_service_account(namespace, {"metadata": {"name": "reader"}})
        rbac.create_namespaced_role(
            namespace,
            {
                "metadata": {"name": "read"},
                "rules": [
                    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}
                ],
            },
        )
        rbac.create_namespaced_role_binding(
            namespace,
            {
                "metadata": {"name": "read"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "read",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
            },
        )
        token = core.create_namespaced_service_account_token(
            "reader", namespace, {"spec": {"expirationSeconds": 3600}}
        ).status.token
    config = yaml.safe_load(plane.kubeconfig.read_text())
    config["users"][0]["user"] = {"token": token}
    path = tmp_path / "reader.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_read_only_user_is_told_what_it_may_not_do(
    control_plane: controlplane.ControlPlane, namespace: str, tmp_path: Path
) -> None:
    reader = connecting.connect(
        connecting.Target(
            kubeconfig=_reader_kubeconfig(control_plane, namespace, tmp_path), namespace=namespace
        )
    )
    from kubefoundry.cluster import access

    missing = access.missing_for_apply(reader, manifests(), namespace=namespace)
    assert f"create deployments.apps -n {namespace}" in missing
    assert f"patch services -n {namespace}" in missing
    assert inspecting.roots(reader, deploying.ROOT_KINDS, namespace=namespace) == []
    hidden: list[str] = []
    inspecting.roots(reader, deploying.ROOT_KINDS, namespace=None, unreadable=hidden)
    assert "Deployment" in hidden  # may read its namespace, not every namespace: said, not fatal
    facts, refused = discovering.discover(reader)
    assert any(line.startswith("nodes:") for line in refused)
    # Leases hidden too: whether Dynamo's operator runs is unknown, and said why.
    assert any(line.startswith("leases:") for line in refused)
    assert facts.operators["dynamo"].state == "unknown"
    assert "Hidden: leases" in facts.operators["dynamo"].evidence
    with pytest.raises(errors.ForbiddenError) as err:
        applying.apply(reader, manifests())
    assert err.value.hint
    assert "kubectl auth can-i" in err.value.hint


def test_a_crd_version_other_than_the_rendered_one_is_named(
    control_plane: controlplane.ControlPlane, namespace: str
) -> None:
    conn = connect(control_plane, namespace)
    old = {
        "apiVersion": "serving.kserve.io/v1alpha9",
        "kind": "InferenceService",
        "metadata": {"name": "m"},
    }
    with pytest.raises(
        PermanentError, match=r"serves InferenceService only as serving\.kserve\.io/v1beta1"
    ) as err:
        applying.apply(conn, [old])
    assert err.value.hint
    assert "Upgrade" in err.value.hint
