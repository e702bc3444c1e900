"""A cluster user whose RBAC allows one namespace, for the security tests (issue 10).

``alice`` is a ServiceAccount in namespace A holding the Role KubeFoundry's chart gives a
deployer (``installing.deployer_rules``) there and nothing else; her token comes from the
TokenRequest API. The admin deploys one model in A and one in B through a server in token
mode, so there is something alice may and may not see.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from fastapi.testclient import TestClient
from kubernetes import client
from tests.support import controlplane
from tests.support.rendering import CANARY

from kubefoundry.api.app import create_app
from kubefoundry.cluster.connecting import Target
from kubefoundry.deploy import installing

SPEC = {
    "model": "qwen2.5-1.5b",
    "runtime": "vllm",
    "gpu": "L4",
    "replicas": 1,
    "serving": {"monitoring": "none"},
}


class World:
    def __init__(self, a: str, b: str, alice: str, user: str, admin_token: str) -> None:
        self.a, self.b, self.alice, self.user, self.admin_token = a, b, alice, user, admin_token
        self.deployed: dict[str, str] = {}


def new_namespace(core: client.CoreV1Api, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    return name


def sa_token(core: client.CoreV1Api, name: str, namespace: str) -> str:
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    answer = core.create_namespaced_service_account_token(name, namespace, request)
    return str(answer.status.token)


@contextlib.contextmanager
def alice_and_bob(
    control_plane: controlplane.ControlPlane, api_client: client.ApiClient
) -> Iterator[World]:
    """Namespaces A (alice's: a ServiceAccount with the chart's deployer Role there, her token
    from the TokenRequest API) and B (not hers), one deployment in each made by the admin;
    both namespaces deleted afterwards."""
    core, rbac = client.CoreV1Api(api_client), client.RbacAuthorizationV1Api(api_client)
    a, b = new_namespace(core, "kf-alice"), new_namespace(core, "kf-other")
    core.create_namespaced_service_account(a, {"metadata": {"name": "alice"}})
    rbac.create_namespaced_role(
        a,
        {
            "metadata": {"name": "kubefoundry-deployer"},
            "rules": [r.to_dict() for r in installing.deployer_rules()],
        },
    )
    rbac.create_namespaced_role_binding(
        a,
        {
            "metadata": {"name": "alice-deploys"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "kubefoundry-deployer",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "alice", "namespace": a}],
        },
    )
    found = World(
        a, b, sa_token(core, "alice", a), f"system:serviceaccount:{a}:alice", "admin-" + CANARY
    )
    admin = TestClient(
        create_app(token=found.admin_token, cluster=Target(kubeconfig=control_plane.kubeconfig))
    )
    for namespace in (a, b):
        made = admin.post(
            "/api/v1/deployments",
            json=SPEC | {"namespace": namespace},
            headers={"Authorization": f"Bearer {found.admin_token}"},
        )
        assert made.status_code == 201, made.text
        found.deployed[namespace] = made.json()["name"]
    yield found
    core.delete_namespace(a)
    core.delete_namespace(b)
