"""``deploy/logs``'s pure parts: which pods and containers a logs request reads, and the
words for a pod whose log cannot be read (the CLI and the API show the same)."""

from __future__ import annotations

from typing import Any

import pytest

from kubefoundry.core.errors import NotFoundError, PermanentError
from kubefoundry.deploy import logs


def pod(name: str, *containers: str, default: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if default is not None:
        meta["annotations"] = {logs.DEFAULT_CONTAINER: default}
    return {"metadata": meta, "spec": {"containers": [{"name": c} for c in containers]}}


PODS = [pod("chat-a", "vllm"), pod("chat-b", "vllm")]


@pytest.mark.parametrize(
    ("which", "container", "expected"),
    [
        (None, None, [logs.Source("chat-a", "vllm"), logs.Source("chat-b", "vllm")]),
        ("chat-b", None, [logs.Source("chat-b", "vllm")]),
        (None, "sidecar", [logs.Source("chat-a", "sidecar"), logs.Source("chat-b", "sidecar")]),
        ("chat-a", "sidecar", [logs.Source("chat-a", "sidecar")]),
    ],
)
def test_choose_reads_every_pod_or_the_named_one(
    which: str | None, container: str | None, expected: list[logs.Source]
) -> None:
    assert logs.choose(PODS, deployment="chat", pod=which, container=container) == expected


def test_no_pods_is_nothing_to_read_not_an_error() -> None:
    assert logs.choose([], deployment="chat") == []


def test_an_unknown_pod_names_the_deployments_pods() -> None:
    with pytest.raises(NotFoundError) as raised:
        logs.choose(PODS, deployment="chat", pod="chat-c")
    assert raised.value.kind == "pod"
    assert raised.value.suggestions  # chat-a and chat-b are close
    assert raised.value.hint == "Deployment chat has these pods: chat-a, chat-b."


def test_an_unknown_pod_of_a_deployment_without_pods_says_so() -> None:
    with pytest.raises(NotFoundError) as raised:
        logs.choose([], deployment="chat", pod="chat-a")
    assert raised.value.hint == "Deployment chat has no pods yet."


@pytest.mark.parametrize(
    ("the_pod", "expected"),
    [
        (pod("p", "vllm"), "vllm"),
        (pod("p", "kserve-container", "queue-proxy"), "kserve-container"),  # injected after
        (pod("p", "istio-proxy", "main", default="main"), "main"),  # injected first, annotated
        (pod("p", "vllm", default="gone"), "vllm"),  # an annotation naming no container
        (pod("p"), None),  # no containers listed: the API server decides
        ({"metadata": {"name": "p"}}, None),
    ],
)
def test_the_engine_container_is_the_annotated_one_else_the_first(
    the_pod: dict[str, Any], expected: str | None
) -> None:
    assert logs.engine_container(the_pod) == expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            PermanentError("The node did not answer.", hint="kwok nodes have no kubelet."),
            "No logs from pod chat-a: The node did not answer. kwok nodes have no kubelet.",
        ),
        (PermanentError("Not started."), "No logs from pod chat-a: Not started."),
    ],
)
def test_a_pod_without_logs_is_worded_once(error: PermanentError, expected: str) -> None:
    assert logs.problem("chat-a", error) == expected
