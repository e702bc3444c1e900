"""Which pods the sandbox serves a FAKE vLLM for, and with what, read from their arguments."""

from __future__ import annotations

from typing import Any

from kubefoundry.sandbox import model_servers


def _pod(*containers: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"containers": list(containers)}}


def test_a_vllm_engine_is_served_under_its_served_name_and_port() -> None:
    vllm = {
        "name": "vllm",
        "command": ["vllm", "serve", "/models/qwen"],
        "args": ["--served-model-name", "Qwen/Qwen2.5-0.5B-Instruct", "--port", "8200",
                 "--max-model-len=4096", "--max-num-seqs", "64"],
    }  # fmt: skip
    assert model_servers.engine_of(_pod(vllm)) == model_servers.Engine(
        model="Qwen/Qwen2.5-0.5B-Instruct", port=8200, max_model_len=4096, max_num_seqs=64
    )
    # The port defaults to vLLM's own.
    plain = {"name": "vllm", "args": ["--served-model-name", "m"]}
    assert model_servers.engine_of(_pod(plain)) == model_servers.Engine("m", 8000, None, None)


def test_pods_that_serve_no_model_get_no_server() -> None:
    picker = {"name": "epp", "args": ["--pool-name", "p", "--grpc-port", "9002"]}
    tgi = {"name": "inference", "args": ["--model-id", "Qwen/Qwen2.5-0.5B-Instruct"]}
    ray_worker = {"name": "ray-worker", "command": ["ray", "start", "--block"]}
    for container in (picker, tgi, ray_worker):
        assert model_servers.engine_of(_pod(container)) is None
    assert model_servers.engine_of({"spec": {}}) is None
