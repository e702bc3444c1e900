"""A real Kubernetes control plane for the integration tests.

The session starts kube-apiserver and etcd (built once by ``scripts/testcluster-build``,
cached outside the work tree), installs every CRD in ``shared/crds`` and waits until each is
Established; each test gets its own namespace, deleted after it. Skipped, with a message
saying so, only where the Go toolchain is missing.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config, dynamic
from tests.conftest import SHARED
from tests.support import controlplane

CRDS = SHARED / "crds"
FIELD_MANAGER = "kubefoundry-tests"
APPLY_PATCH = "application/apply-patch+yaml"


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[controlplane.ControlPlane]:
    if shutil.which("go") is None:
        pytest.skip(
            "the integration tests build kube-apiserver and etcd from Go modules and need the "
            "Go toolchain (https://go.dev/dl/); none is on PATH"
        )
    binary = controlplane.build()
    with controlplane.running(binary, tmp_path_factory.mktemp("testcluster")) as plane:
        yield plane


@pytest.fixture(scope="session")
def api_client(control_plane: controlplane.ControlPlane) -> Iterator[client.ApiClient]:
    with config.new_client_from_config(config_file=str(control_plane.kubeconfig)) as api:
        _install_crds(api)
        yield api


@pytest.fixture(scope="session")
def dynamic_client(
    api_client: client.ApiClient, control_plane: controlplane.ControlPlane
) -> dynamic.DynamicClient:
    # Its discovery cache lives with the cluster's files, never in the shared temp folder.
    return dynamic.DynamicClient(api_client, cache_file=str(control_plane.workdir / "discovery"))


@pytest.fixture
def namespace(api_client: client.ApiClient) -> Iterator[str]:
    """A fresh namespace for one test, deleted after it."""
    core = client.CoreV1Api(api_client)
    name = f"kf-test-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def crd_files() -> list[Path]:
    """shared/crds holds one CRD per file, named ``<plural>.<group>.yaml`` (its INDEX.md)."""
    return sorted(CRDS.rglob("*.yaml"))


def _install_crds(api: client.ApiClient, *, timeout: float = 60.0) -> None:
    files = crd_files()
    assert files, f"no CRD files under {CRDS}"
    # A few at a time: the server's work on each CRD (schemas, CEL rules) is what takes long.
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(functools.partial(_apply_raw, api), files))
    waiting = {path.stem for path in files}
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        waiting -= _established(client.ApiextensionsV1Api(api))
        if waiting:
            time.sleep(0.2)
    if waiting:
        raise controlplane.ControlPlaneError(
            f"CRDs not Established after {timeout:.0f}s: {', '.join(sorted(waiting))}"
        )


def _established(ext: client.ApiextensionsV1Api) -> set[str]:
    """Names of the CRDs whose Established condition is True (read raw: typed models of
    these schemas take seconds to build)."""
    response = ext.list_custom_resource_definition(_preload_content=False)
    items = json.loads(response.data)["items"]
    return {
        item["metadata"]["name"]
        for item in items
        for condition in (item.get("status") or {}).get("conditions") or []
        if condition["type"] == "Established" and condition["status"] == "True"
    }


def _apply_raw(api: client.ApiClient, source: Path) -> None:
    """Server-side apply the CRD in ``source`` as its text (an apply patch may be YAML):
    parsing and re-serialising ~15 MB of schemas in Python takes longer than the server."""
    request = api.param_serialize(
        "PATCH",
        f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{source.stem}",
        query_params=[("fieldManager", FIELD_MANAGER), ("force", "true")],
        header_params={"Content-Type": APPLY_PATCH, "Accept": "application/json"},
        body=source.read_text(),
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*request)
    body = response.read()
    if not 200 <= response.status <= 299:
        raise controlplane.ControlPlaneError(
            f"the API server refused {source.relative_to(CRDS)} ({response.status}): {body!r}"
        )
