"""Which kinds a cluster serves, from the discovery API's two answers: the aggregated document
(Kubernetes 1.30+, one request) and, from older servers, the group list plus one resource list
per group version. Shapes as the API server writes them (apidiscovery.k8s.io/v2, meta/v1)."""

from __future__ import annotations

import json
from typing import Any

from kubefoundry.cluster import reading

AGGREGATED = {
    "kind": "APIGroupDiscoveryList",
    "apiVersion": "apidiscovery.k8s.io/v2",
    "items": [
        {
            "metadata": {"name": "serving.kserve.io"},
            "versions": [
                {
                    "version": "v1beta1",
                    "resources": [
                        {"resource": "inferenceservices", "scope": "Namespaced"},
                        {"resource": "servingruntimes", "scope": "Namespaced"},
                    ],
                },
                {
                    "version": "v1alpha1",
                    "resources": [{"resource": "inferenceservices", "scope": "Namespaced"}],
                },
            ],
        },
        {
            "metadata": {"name": "leaderworkerset.x-k8s.io"},
            "versions": [
                {"version": "v1", "resources": [{"resource": "leaderworkersets"}]},
            ],
        },
    ],
}
GROUPS = {
    "kind": "APIGroupList",
    "groups": [
        {
            "name": "serving.kserve.io",
            "versions": [
                {"groupVersion": "serving.kserve.io/v1beta1", "version": "v1beta1"},
                {"groupVersion": "serving.kserve.io/v1alpha1", "version": "v1alpha1"},
            ],
            "preferredVersion": {"groupVersion": "serving.kserve.io/v1beta1", "version": "v1beta1"},
        }
    ],
}
RESOURCES = {
    "/apis/serving.kserve.io/v1beta1": {
        "kind": "APIResourceList",
        "resources": [
            {"name": "inferenceservices", "kind": "InferenceService"},
            {"name": "inferenceservices/status", "kind": "InferenceService"},
        ],
    },
    "/apis/serving.kserve.io/v1alpha1": {
        "kind": "APIResourceList",
        "resources": [{"name": "inferenceservices", "kind": "InferenceService"}],
    },
}


class _Answer:
    def __init__(self, body: Any) -> None:
        self.status, self._body = 200, json.dumps(body).encode()

    def read(self) -> bytes:
        return self._body


class _Server:
    """Answers GETs from a table, recording the paths and Accept headers asked."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers, self.asked = answers, []

    def param_serialize(self, method: str, path: str, **kwargs: Any) -> tuple[Any, ...]:
        return method, path, kwargs["header_params"], None, None

    def call_api(self, method: str, url: str, headers: dict[str, str]) -> _Answer:
        self.asked.append((url, headers["Accept"]))
        return _Answer(self.answers[url])


def test_the_aggregated_document_is_one_request_with_the_preferred_version_first() -> None:
    server = _Server({"/apis": AGGREGATED})
    assert reading._served(server) == {
        "inferenceservices.serving.kserve.io": ["v1beta1", "v1alpha1"],
        "servingruntimes.serving.kserve.io": ["v1beta1"],
        "leaderworkersets.leaderworkerset.x-k8s.io": ["v1"],
    }
    ((path, accept),) = server.asked
    assert path == "/apis"
    assert accept.startswith("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")


def test_an_older_server_answers_the_group_list_and_each_group_versions_resources() -> None:
    server = _Server({"/apis": GROUPS, **RESOURCES})
    assert reading._served(server) == {
        "inferenceservices.serving.kserve.io": ["v1beta1", "v1alpha1"],
    }
    assert [path for path, _ in server.asked] == [
        "/apis",
        "/apis/serving.kserve.io/v1beta1",
        "/apis/serving.kserve.io/v1alpha1",
    ]
