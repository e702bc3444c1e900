"""The settings page's token form against the sandbox (issue 10): the token goes into a
Secret in the chosen namespace under the keys the runtimes read, the page says the Secret
exists and never shows the token (not after saving, not when a form is refused), and a gated
model deployed from the deploy page with no Secret named reads that one."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from kubernetes import client
from tests.support import controlplane, forms
from tests.support.rendering import CANARY

from kubefoundry.api.app import create_app
from kubefoundry.cluster.connecting import Target
from kubefoundry.deploy import settings

TOKEN = "hf_" + CANARY


@pytest.fixture
def web(control_plane: controlplane.ControlPlane, namespace: str) -> Iterator[TestClient]:
    app = create_app(cluster=Target(kubeconfig=control_plane.kubeconfig, namespace=namespace))
    with TestClient(app, follow_redirects=False) as c:
        yield c


def test_the_token_goes_into_a_secret_and_never_back_to_the_page(
    web: TestClient, namespace: str, api_client: client.ApiClient
) -> None:
    shown = web.get("/settings", params={"namespace": namespace})
    assert shown.status_code == 200
    assert f"does <strong>not</strong> exist in namespace <code>{namespace}</code>" in shown.text

    refused = web.post(
        "/settings/hf-token",
        data={"token": "has spaces " + CANARY, "namespace": namespace, **forms.csrf(shown.text)},
    )
    assert refused.status_code == 422
    assert 'id="token-error"' in refused.text
    assert CANARY not in refused.text

    saved = web.post(
        "/settings/hf-token",
        data={"token": TOKEN, "namespace": namespace, **forms.csrf(shown.text)},
    )
    assert saved.status_code == 303, saved.text
    after = web.get(saved.headers["location"])
    assert "<strong>exists</strong>" in after.text
    assert CANARY not in after.text
    secret = client.CoreV1Api(api_client).read_namespaced_secret(settings.TOKEN_SECRET, namespace)
    assert base64.b64decode(secret.data[settings.TOKEN_KEY]).decode() == TOKEN

    # A gated model deployed from the page, no Secret named: it reads the settings' Secret.
    form = web.get(
        "/models/llama-3.1-8b/deploy",
        params={"gpu": "H100-80GB-SXM", "monitoring": "none", "namespace": namespace},
    )
    assert form.status_code == 200, form.text
    hidden = dict(
        re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)"',
            form.text.split('action="/deployments"')[1].split("</form>")[0],
        )
    )
    deployed = web.post("/deployments", data=hidden)
    assert deployed.status_code == 303, deployed.text
    apps = client.AppsV1Api(api_client)
    made = apps.list_namespaced_deployment(namespace).items
    refs = {
        e.value_from.secret_key_ref.name
        for d in made
        for c in d.spec.template.spec.containers
        for e in c.env or []
        if e.value_from is not None and e.value_from.secret_key_ref is not None
    }
    assert refs == {settings.TOKEN_SECRET}
    assert all(CANARY not in web.get(u).text for u in ("/deployments", "/settings"))
