"""Which of a pod's ports ``top`` asks for /metrics first."""

from __future__ import annotations

from typing import Any

from kubefoundry.deploy import monitoring


def _pod(*ports: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "c", "ports": list(ports)}]}}


def test_the_metrics_port_first_then_http_and_never_grpc() -> None:
    ray_head = _pod(
        {"name": "serve", "containerPort": 8000},
        {"name": "dashboard", "containerPort": 8265},
        {"name": "metrics", "containerPort": 8080},
    )
    assert monitoring.candidates(ray_head) == [8080, 8000, 8265]
    picker = _pod(
        {"name": "grpc", "containerPort": 9002},
        {"name": "grpc-health", "containerPort": 9003},
        {"name": "metrics", "containerPort": 9090},
    )
    assert monitoring.candidates(picker) == [9090]
    vllm = _pod({"name": "http", "containerPort": 8000}, {"containerPort": 5557, "protocol": "UDP"})
    assert monitoring.candidates(vllm) == [8000]
    assert monitoring.candidates({"spec": {"containers": [{"name": "c"}]}}) == []
