"""``--auth kubernetes`` against the sandbox's real API server (issue 10, security).

A service account ``alice`` holds a Role in namespace A only, with the rules KubeFoundry's
chart gives a deployer (``installing.deployer_rules``); her token comes from the TokenRequest
API. The admin deploys one model in A and one in B through a second app (token mode). Then,
as alice, through the server that reviews her token (TokenReview) and impersonates her:
A's list works, B's is a 403 that says what was refused, all namespaces shows A's row only
and says what RBAC hid, a deploy into B is refused with nothing created, a bogus token is a
401. The chart's own objects are applied to the cluster, and a server whose identity is the
chart's service account (its least-privilege ClusterRole and nothing else) does the same.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from kubernetes import client, dynamic, utils
from tests.support import controlplane
from tests.support.rbac import SPEC, World, alice_and_bob, new_namespace, sa_token
from tests.support.rendering import CANARY

from kubefoundry.api import auth
from kubefoundry.api.app import create_app
from kubefoundry.cluster import connecting, reviews
from kubefoundry.cluster.connecting import Target
from kubefoundry.deploy import installing


@pytest.fixture(scope="module")
def world(
    control_plane: controlplane.ControlPlane, api_client: client.ApiClient
) -> Iterator[World]:
    with alice_and_bob(control_plane, api_client) as found:
        yield found


def _server(kubeconfig: Path) -> TestClient:
    return TestClient(
        create_app(cluster=Target(kubeconfig=kubeconfig), auth_mode=auth.Mode.KUBERNETES)
    )


@pytest.fixture(scope="module")
def served(control_plane: controlplane.ControlPlane) -> TestClient:
    """The server acting with the sandbox admin's credentials."""
    return _server(control_plane.kubeconfig)


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_api_server_reviews_the_token_and_impersonation_names_the_user(
    control_plane: controlplane.ControlPlane, world: World
) -> None:
    with connecting.connect(Target(kubeconfig=control_plane.kubeconfig)) as admin:
        verdict = reviews.review_token(admin, world.alice)
        assert verdict.user is not None, verdict.reason
        assert verdict.user.name == world.user
        assert {"system:serviceaccounts", f"system:serviceaccounts:{world.a}"} <= set(
            verdict.user.groups
        )
        with admin.impersonating(
            verdict.user.name, groups=verdict.user.groups, uid=verdict.user.uid
        ) as alice:
            seen = reviews.whoami(alice)
        assert seen.name == world.user
        assert set(seen.groups) == set(verdict.user.groups)  # each group its own header line
        assert seen.uid == verdict.user.uid
        refused = reviews.review_token(admin, "not-a-token")
        assert refused.user is None
        assert refused.reason


def test_alice_lists_her_namespace_and_is_refused_another(served: TestClient, world: World) -> None:
    mine = served.get(
        "/api/v1/deployments", params={"namespace": world.a}, headers=_as(world.alice)
    )
    assert mine.status_code == 200, mine.text
    assert [d["name"] for d in mine.json()["deployments"]] == [world.deployed[world.a]]
    other = served.get(
        "/api/v1/deployments", params={"namespace": world.b}, headers=_as(world.alice)
    )
    assert other.status_code == 403, other.text
    body = other.json()
    assert world.b in body["message"]
    assert "kubectl auth can-i" in body["hint"]


def test_all_namespaces_shows_alice_only_what_her_rbac_allows(
    served: TestClient, world: World
) -> None:
    everywhere = served.get(
        "/api/v1/deployments", params={"all_namespaces": True}, headers=_as(world.alice)
    )
    assert everywhere.status_code == 200, everywhere.text
    rows = everywhere.json()["deployments"]
    assert {(r["namespace"], r["name"]) for r in rows} == {(world.a, world.deployed[world.a])}
    assert any(world.a in h for h in everywhere.json()["hidden"])
    user = reviews.User(name=world.user)
    holder = served.app.state.cluster  # type: ignore[attr-defined]
    verdict = holder.visibility(
        served.app.state.auth.authenticate(world.alice).user  # type: ignore[attr-defined]
    )
    assert verdict is not None
    assert world.a in verdict
    assert world.b not in verdict
    assert "Deployment" in verdict[world.a]
    assert user.name == world.user
    admin = served.get(
        "/api/v1/deployments",
        params={"all_namespaces": True},
        headers=_as(world.admin_token),
    )
    assert admin.status_code == 401  # the shared token means nothing in kubernetes mode


def test_alice_cannot_deploy_into_another_namespace(
    served: TestClient, world: World, api_client: client.ApiClient
) -> None:
    before = client.AppsV1Api(api_client).list_namespaced_deployment(world.b).items
    refused = served.post(
        "/api/v1/deployments", json=SPEC | {"namespace": world.b}, headers=_as(world.alice)
    )
    assert 400 <= refused.status_code < 500, refused.text
    assert refused.status_code != 401
    assert world.b in refused.json()["message"]
    after = client.AppsV1Api(api_client).list_namespaced_deployment(world.b).items
    assert [d.metadata.name for d in after] == [d.metadata.name for d in before]


def test_a_bogus_token_is_a_401_that_says_how_to_get_one(
    served: TestClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = served.get("/api/v1/deployments", headers=_as(CANARY))
    assert answer.status_code == 401
    assert "refused this token" in answer.json()["message"]
    assert "kubectl create token" in answer.json()["hint"]
    assert CANARY not in answer.text
    assert all(CANARY not in r.getMessage() for r in caplog.records)
    again = served.get("/healthz")
    assert again.status_code == 200


def test_verdicts_are_cached_by_a_hash_of_the_token(
    control_plane: controlplane.ControlPlane, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    real = reviews.review_token

    def counting(conn: connecting.Connection, token: str) -> reviews.Verdict:
        asked.append("review")
        return real(conn, token)

    monkeypatch.setattr(reviews, "review_token", counting)
    fresh = _server(control_plane.kubeconfig)
    for _ in range(3):
        listed = fresh.get(
            "/api/v1/deployments", params={"namespace": world.a}, headers=_as(world.alice)
        )
        assert listed.status_code == 200
    assert asked == ["review"]
    guard = fresh.app.state.auth  # type: ignore[attr-defined]
    assert all(world.alice not in key for key in guard._verdicts)


def test_alice_signs_in_on_the_login_page_and_lists_with_the_cookie(
    control_plane: controlplane.ControlPlane, world: World
) -> None:
    browser = _server(control_plane.kubeconfig)
    page = browser.get("/login")
    assert "Kubernetes token" in page.text
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    done = browser.post("/login", data={"token": world.alice, "csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert world.alice not in done.headers["set-cookie"]
    listed = browser.get("/api/v1/deployments", params={"namespace": world.a})
    assert listed.status_code == 200
    assert browser.get("/api/v1/deployments", params={"namespace": world.b}).status_code == 403
    wrong = _server(control_plane.kubeconfig)
    page = wrong.get("/login")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    refused = wrong.post("/login", data={"token": CANARY, "csrf": csrf})
    assert refused.status_code == 401
    assert CANARY not in refused.text


# ---------------------------------------------------------------- the chart


@pytest.fixture(scope="module")
def installed(
    control_plane: controlplane.ControlPlane,
    api_client: client.ApiClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The chart's objects, as ``helm template`` renders them, applied for real."""
    helm = _helm()
    chart = tmp_path_factory.mktemp("chart") / "kubefoundry"
    installing.write(chart)
    core = client.CoreV1Api(api_client)
    namespace = new_namespace(core, "kf-system")
    import subprocess

    home = tmp_path_factory.mktemp("helm-home")
    env = {k: str(home / k) for k in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")}
    lint = subprocess.run(
        [str(helm), "lint", "--strict", str(chart)], capture_output=True, text=True, env=env
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    done = subprocess.run(
        [str(helm), "template", "kf", str(chart), "-n", namespace, "--set",
         "networkPolicy.enabled=true"],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    objects = [o for o in yaml.safe_load_all(done.stdout) if o]
    release = f"kf-{uuid.uuid4().hex[:4]}"
    for obj in objects:  # cluster-scoped names must not collide between test runs
        if obj["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            obj["metadata"]["name"] = obj["metadata"]["name"].replace("kf", release, 1)
        if obj["kind"] == "ClusterRoleBinding":
            obj["roleRef"]["name"] = release
    utils.create_from_yaml(api_client, yaml_objects=objects, namespace=namespace)
    yield namespace, objects
    rbac = client.RbacAuthorizationV1Api(api_client)
    for obj in objects:
        if obj["kind"] == "ClusterRole":
            rbac.delete_cluster_role(obj["metadata"]["name"])
        if obj["kind"] == "ClusterRoleBinding":
            rbac.delete_cluster_role_binding(obj["metadata"]["name"])
    core.delete_namespace(namespace)


def _helm() -> Path:
    import shutil
    import subprocess

    if shutil.which("go") is None:
        pytest.skip("helm is built from Go modules by scripts/tools, and Go is not installed")
    done = subprocess.run(
        [str(controlplane.REPO / "scripts" / "tools"), "helm"],
        capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(done.stdout.strip().splitlines()[-1])


def test_the_chart_installs_and_its_cluster_role_is_enough_and_writes_nothing(
    installed: tuple[str, list[dict[str, Any]]],
    control_plane: controlplane.ControlPlane,
    api_client: client.ApiClient,
    world: World,
    tmp_path: Path,
) -> None:
    namespace, objects = installed
    kinds = {o["kind"] for o in objects}
    assert kinds >= {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment"}
    assert {"Service", "NetworkPolicy", "Role", "RoleBinding"} <= kinds
    (server_role,) = [
        o
        for o in objects
        if o["kind"] == "ClusterRole" and not o["metadata"]["name"].endswith("-deployer")
    ]
    verbs = {v for rule in server_role["rules"] for v in rule["verbs"]}
    assert verbs <= {"list", "watch", "create", "impersonate"}
    created = [r for r in server_role["rules"] if "create" in r["verbs"]]
    assert [r["resources"] for r in created] == [["tokenreviews"]]
    assert not [r for r in server_role["rules"] if "*" in r["resources"] + r["verbs"]]
    dyn = dynamic.DynamicClient(api_client)
    live = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert dyn.get(live, name="kf", namespace=namespace).spec.template.spec.containers[0].args[
        -2:
    ] == ["--auth", "kubernetes"]

    core = client.CoreV1Api(api_client)
    token = sa_token(core, "kf", namespace)
    kubeconfig = tmp_path / "kubefoundry-sa.kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "sandbox",
                        "cluster": {
                            "server": control_plane.server,
                            "certificate-authority": str(control_plane.ca_file),
                        },
                    }
                ],
                "users": [{"name": "kubefoundry", "user": {"token": token}}],
                "contexts": [
                    {
                        "name": "kubefoundry",
                        "context": {
                            "cluster": "sandbox",
                            "user": "kubefoundry",
                            "namespace": namespace,
                        },
                    }
                ],
                "current-context": "kubefoundry",
            }
        )
    )
    as_chart = _server(kubeconfig)
    mine = as_chart.get(
        "/api/v1/deployments", params={"namespace": world.a}, headers=_as(world.alice)
    )
    assert mine.status_code == 200, mine.text
    assert [d["name"] for d in mine.json()["deployments"]] == [world.deployed[world.a]]
    everywhere = as_chart.get(
        "/api/v1/deployments", params={"all_namespaces": True}, headers=_as(world.alice)
    )
    assert everywhere.status_code == 200, everywhere.text
    assert {r["namespace"] for r in everywhere.json()["deployments"]} == {world.a}
    refused = as_chart.post(
        "/api/v1/deployments", json=SPEC | {"namespace": world.b}, headers=_as(world.alice)
    )
    assert 400 <= refused.status_code < 500
    assert refused.status_code != 401
    with connecting.connect(Target(kubeconfig=kubeconfig)) as own:
        assert not _may_write(own)


def _may_write(conn: connecting.Connection) -> list[str]:
    """The workload writes the server's own identity could make (there should be none)."""
    from kubefoundry.cluster import access

    asked = [
        ("create", "deployments", "apps"),
        ("patch", "deployments", "apps"),
        ("create", "secrets", ""),
        ("delete", "pods", ""),
        ("create", "configmaps", ""),
    ]
    return [
        f"{verb} {resource}"
        for verb, resource, group in asked
        if access.can(conn, verb=verb, resource=resource, group=group, namespace="default")
    ]


def test_in_a_pod_the_server_uses_its_service_account(
    control_plane: controlplane.ControlPlane,
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No kubeconfig named or found, a service account mounted (as the chart's pod has):
    the connection uses the mounted token and CA, and the account's namespace."""
    import shutil
    import urllib.parse

    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(world.alice)
    shutil.copy(control_plane.ca_file, account / "ca.crt")
    (account / "namespace").write_text(world.a)
    where = urllib.parse.urlsplit(control_plane.server)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setattr(connecting, "DEFAULT_KUBECONFIG", tmp_path / "no-kubeconfig")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", str(where.hostname))
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(where.port))
    with connecting.connect(Target(), service_account=account) as conn:
        assert conn.context == "in-cluster"
        assert conn.namespace == world.a
        assert reviews.whoami(conn).name == world.user
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")  # not in a pod: the usual missing-file error
    with pytest.raises(Exception, match="No kubeconfig"):
        connecting.connect(Target(), service_account=account)
