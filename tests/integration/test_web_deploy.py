"""The deploy journey's pages against the sandbox's real control plane (issue 10), server side.

Through the real application (Starlette's test client, which follows no redirect by itself
here, so each answer is checked): the deploy form planned against the cluster's pools, one
POST that applies it, the deployments page listing it, the deployment's page following it to
Ready (kwok runs the pods on the fake L4 nodes), the cluster page counting the GPU it took,
delete saying the cache stays. The same use cases the CLI and API run, so their figures are
compared with ``deploy/`` called directly. The browser drives the same pages in
``tests/web/test_browser_deploy.py``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from kubernetes import client
from tests.support import controlplane, forms

from kubefoundry.api.app import create_app
from kubefoundry.cluster import connecting
from kubefoundry.cluster.connecting import Target
from kubefoundry.core import identity
from kubefoundry.deploy import deploying, discovering, rendering
from kubefoundry.deploy import events as deploy_events

READY_S = 120.0
MODEL = "qwen2.5-1.5b"


@pytest.fixture
def web(control_plane: controlplane.ControlPlane, namespace: str) -> Iterator[TestClient]:
    app = create_app(cluster=Target(kubeconfig=control_plane.kubeconfig, namespace=namespace))
    with TestClient(app, follow_redirects=False) as client:
        yield client


def test_deploy_follow_edit_and_delete_through_the_pages(
    web: TestClient,
    namespace: str,
    control_plane: controlplane.ControlPlane,
    api_client: client.ApiClient,
) -> None:
    form = web.get(f"/models/{MODEL}/deploy", params={"gpu": "L4", "monitoring": "none"})
    assert form.status_code == 200, form.text
    # Planned against the cluster: only its pools are offered, and its namespace is the default.
    gpus = re.search(r'<select id="f-gpu".*?</select>', form.text, re.S)
    assert gpus is not None
    with connecting.connect(Target(kubeconfig=control_plane.kubeconfig)) as conn:
        facts, _ = discovering.discover(conn)
    pools = sorted({p.gpu for p in facts.gpu_pools() if p.gpu})
    assert "L4" in pools
    assert len(pools) < 5, "the sandbox has a few pools, the catalog dozens of GPUs"
    assert re.findall(r'<option value="([^"]+)"', gpus.group(0)) == pools
    assert f'value="{namespace}"' in form.text
    button = re.search(r'<button type="submit" id="deploy-button"[^>]*>', form.text)
    assert button is not None
    assert "disabled" not in button.group(0)

    posted = forms.hidden(form.text, "/deployments")
    assert posted["model"] == "Qwen/Qwen2.5-1.5B-Instruct"
    assert posted["namespace"] == namespace
    applied = web.post("/deployments", data=posted)
    assert applied.status_code == 303, applied.text
    name = posted["name"]
    assert applied.headers["location"] == f"/deployments/{namespace}/{name}?deployed=1"

    listed = web.get("/deployments", params={"namespace": namespace})
    assert listed.status_code == 200
    assert f'href="/deployments/{namespace}/{name}"' in listed.text
    assert "1xL4" in listed.text

    deadline = time.monotonic() + READY_S
    while True:
        shown = web.get(f"/deployments/{namespace}/{name}")
        assert shown.status_code == 200, shown.text
        phase = re.search(r'class="phase phase-([a-z_]+)"', shown.text)
        assert phase is not None
        if phase.group(1) == "ready":
            break
        assert phase.group(1) != "failed", shown.text
        assert time.monotonic() < deadline, f"not ready after {READY_S:.0f}s"
        time.sleep(1)
    assert 'aria-current="step">ready<' in shown.text
    # The page says what the cluster says: the same status and events as deploy/ gives.
    with connecting.connect(Target(kubeconfig=control_plane.kubeconfig)) as conn:
        status = deploying.status(conn, name=name, namespace=namespace)
        events = deploy_events.of_deployment(conn, name=name, namespace=namespace)
    assert f'<span id="phase-ready">{status.ready}</span>' in shown.text
    assert events, "kwok's scheduling leaves events"
    assert all(e["reason"] in shown.text for e in events)
    # The memory breakdown is the plan of the spec the root carries, re-derived.
    assert "Memory per GPU" in shown.text
    with connecting.connect(Target(kubeconfig=control_plane.kubeconfig)) as conn:
        root = deploying.find(conn, name=name, namespace=namespace)
    spec = identity.spec_of(root)
    assert spec is not None
    assert spec.namespace == namespace
    _, plan = rendering.plan(spec, rendering.model_entry(spec.model))
    weights = re.search(r'<th scope="row">Weights</th><td class="num">([\d.]+)</td>', shown.text)
    assert weights is not None
    assert float(weights.group(1)) == pytest.approx(plan.memory.weights_gib, abs=0.005)

    # The list says where every deployment is, from the watch cache (which may lag a moment).
    expected = f'<td class="phase-ready">ready</td><td class="num">{status.ready}/{status.wanted}<'
    for _ in range(50):
        listed = web.get("/deployments", params={"namespace": namespace})
        if expected in listed.text:
            break
        time.sleep(0.2)
    assert expected in listed.text

    # The cluster page counts what discovery counts. Other tests' pods may come and go on
    # the shared sandbox meanwhile, so page and discovery are read back to back until they
    # agree on one moment; this deployment's replicas are among the GPUs in use.
    for _ in range(20):
        cluster = web.get("/cluster")
        assert cluster.status_code == 200
        row = re.search(r'<th scope="row">L4</th>.*?</tr>', cluster.text, re.S)
        assert row is not None
        numbers = re.findall(r'<td class="num">(\d+)</td>', row.group(0))[2:4]
        used, free = (int(n) for n in numbers)
        with connecting.connect(Target(kubeconfig=control_plane.kubeconfig)) as conn:
            after, _ = discovering.discover(conn)
        l4 = [p for p in after.gpu_pools() if p.gpu == "L4"]
        assert len(l4) == 1
        if free == l4[0].free_gpus:
            break
        time.sleep(0.5)
    assert free == l4[0].free_gpus
    assert used == l4[0].nodes * l4[0].gpus_per_node - free
    assert used >= status.wanted, "each replica of the plan holds one L4"

    # Edit: the stored decisions prefilled, a preview that shows the difference and applies
    # nothing, then the change applied.
    edit = web.get(f"/deployments/{namespace}/{name}/edit")
    assert edit.status_code == 200, edit.text
    tier = re.search(r'<select id="f-tier".*?</select>', edit.text, re.S)
    assert tier is not None
    assert f'<option value="{spec.tier}" selected>' in tier.group(0)
    preview = web.get(f"/deployments/{namespace}/{name}/edit", params={"context_length": "4096"})
    assert preview.status_code == 200, preview.text
    assert "What would change" in preview.text
    added = re.findall(r'<span class="add">([^<]*)</span>', preview.text)
    assert any("4096" in line for line in added), added
    apps = client.AppsV1Api(api_client)

    def args() -> str:
        return " ".join(
            " ".join(c.args or []) + " ".join(c.command or [])
            for d in apps.list_namespaced_deployment(namespace).items
            for c in d.spec.template.spec.containers
        )

    assert "4096" not in args(), "a preview applies nothing"
    applied = web.post(
        f"/deployments/{namespace}/{name}/edit",
        data={"context_length": "4096", **forms.csrf(preview.text)},
    )
    assert applied.status_code == 303, applied.text
    assert applied.headers["location"] == f"/deployments/{namespace}/{name}?updated=1"
    assert "4096" in args()
    with connecting.connect(Target(kubeconfig=control_plane.kubeconfig)) as conn:
        stored = identity.spec_of(deploying.find(conn, name=name, namespace=namespace))
    assert stored is not None
    assert stored.context_length == 4096

    deleted = web.post(f"/deployments/{namespace}/{name}/delete", data=forms.csrf(shown.text))
    assert deleted.status_code == 303
    after = web.get(deleted.headers["location"])
    assert "model cache" in after.text
    assert f'href="/deployments/{namespace}/{name}"' not in after.text
    gone = web.get(f"/deployments/{namespace}/{name}")
    assert gone.status_code == 404
    assert "No such deployment" in gone.text


def test_a_refused_deploy_is_shown_on_the_form_and_applies_nothing(
    web: TestClient, namespace: str
) -> None:
    """An H200 the sandbox has no pool of: the form answers with the planner's reason and the
    namespace stays empty."""
    form = web.get(f"/models/{MODEL}/deploy")
    refused = web.post(
        "/deployments",
        data={
            "model": MODEL,
            "namespace": namespace,
            "gpu": "H200",
            "monitoring": "none",
            **forms.csrf(form.text),
        },
    )
    assert refused.status_code == 422, refused.text
    assert "Does not fit" in refused.text or "Not deployed" in refused.text
    listed = web.get("/deployments", params={"namespace": namespace})
    assert "None yet" in listed.text
