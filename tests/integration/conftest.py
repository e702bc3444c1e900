"""A real Kubernetes cluster for the integration tests: a KubeFoundry sandbox.

The session builds (once, cached outside the work tree by ``scripts/testcluster-build``) and
starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, a storage
provisioner and the LeaderWorkerSet controller in a temporary folder, installs every CRD in
``shared/crds`` and registers the sandbox's fake GPU node pools, all through
``kubefoundry.sandbox`` (what ``kubefoundry sandbox up`` runs); each test gets its own
namespace, deleted after it. The runtimes' real operators (KubeRay, KAITO, KServe) are built and run
only when a test of the session is marked ``@pytest.mark.operator(NAME)``, so a test run
alone that needs none builds none. Skipped, with a message saying so, only where the Go toolchain is
missing.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client, config, dynamic
from tests.conftest import SHARED
from tests.support import controlplane

from kubefoundry.cluster import connecting
from kubefoundry.sandbox import building, running, starting

CRDS = SHARED / "crds"


def operators_needed(items: list[pytest.Item]) -> tuple[str, ...]:
    """The operators the session's tests name with ``@pytest.mark.operator(...)``."""
    return tuple(
        sorted(
            {name for item in items for mark in item.iter_markers("operator") for name in mark.args}
        )
    )


@pytest.fixture(scope="session")
def control_plane(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[controlplane.ControlPlane]:
    if shutil.which("go") is None:
        pytest.skip(
            "the integration tests build Kubernetes (kube-apiserver, etcd, ...), kwok and the "
            "LeaderWorkerSet controller from Go modules and need the Go toolchain "
            "(https://go.dev/dl/); none is on PATH"
        )
    binaries = building.build(
        root=controlplane.REPO, operators=operators_needed(list(request.session.items))
    )
    with starting.started(
        binaries,
        workdir=tmp_path_factory.mktemp("sandbox"),
        crds=running.crd_files([CRDS]),
    ) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def api_client(control_plane: controlplane.ControlPlane) -> Iterator[client.ApiClient]:
    with config.new_client_from_config(config_file=str(control_plane.kubeconfig)) as api:
        yield api


@pytest.fixture(scope="session")
def dynamic_client(
    api_client: client.ApiClient, control_plane: controlplane.ControlPlane
) -> dynamic.DynamicClient:
    # Its discovery cache lives with the cluster's files, never in the shared temp folder.
    return dynamic.DynamicClient(api_client, cache_file=str(control_plane.workdir / "discovery"))


@pytest.fixture
def conn(
    control_plane: controlplane.ControlPlane, namespace: str
) -> Iterator[connecting.Connection]:
    """A connection to the sandbox acting in the test's namespace."""
    connection = connecting.connect(
        connecting.Target(kubeconfig=control_plane.kubeconfig, namespace=namespace)
    )
    yield connection
    connection.close()


@pytest.fixture
def namespace(api_client: client.ApiClient) -> Iterator[str]:
    """A fresh namespace for one test, deleted after it."""
    core = client.CoreV1Api(api_client)
    name = f"kf-test-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)
