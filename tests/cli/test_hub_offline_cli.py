"""The real ``kubefoundry`` command without a reachable Hugging Face: one try, then a clear
error naming the call; ``--config`` needs no Hub at all.

``HF_ENDPOINT`` points at 127.0.0.1 (a closed port, or a listener that hangs up and records
each request line), with ``HF_HUB_OFFLINE`` unset: the way a laptop without network meets
the Hub, without any test reaching the network.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from tests.cli.test_cli import LLAMA
from tests.support import endpoints


def run_online(*args: str, endpoint: str, token: str | None = None) -> tuple[int, str, float]:
    """``kubefoundry ARGS`` with the Hub at ``endpoint`` and offline mode off."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    }
    env |= {"COLUMNS": "200", "HF_ENDPOINT": endpoint}
    if token:
        env["HF_TOKEN"] = token
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "kubefoundry.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    return result.returncode, " ".join(result.stderr.split()), time.monotonic() - began


def model_requests(listener: endpoints.Listener) -> list[str]:
    # huggingface_hub fetches its agent registry by itself, once: not a request of ours.
    return [r for r in listener.requests if "agent-harnesses" not in r]


def test_a_hub_model_without_network_fails_at_once_saying_why() -> None:
    endpoint = f"http://127.0.0.1:{endpoints.closed_port()}"
    code, said, took = run_online("plan", "someorg/some-model", endpoint=endpoint)
    assert code == 2, said
    assert (
        f"Hugging Face is unreachable from here (connection refused at {endpoint}), and "
        "config.json of someorg/some-model (fetching config.json) is not in the local cache."
    ) in said
    assert "--config FILE" in said
    assert "HF_HUB_OFFLINE=1" in said
    assert "Retrying" not in said  # huggingface_hub's back-off did not run
    assert "internal error" not in said
    print(f"closed Hub port: {took:.1f}s to the error (including start-up)")


def test_the_hub_is_asked_once() -> None:
    with endpoints.Listener(endpoints.hang_up) as listener:
        code, said, _ = run_online(
            "plan", "someorg/some-model", endpoint=f"http://127.0.0.1:{listener.port}"
        )
    assert code == 2, said
    assert "Hugging Face is unreachable from here" in said
    assert model_requests(listener) == ["HEAD /someorg/some-model/resolve/main/config.json"]


@pytest.mark.parametrize("command", ["plan", "render"])
def test_a_config_file_needs_no_hub_even_with_a_token(command: str) -> None:
    with endpoints.Listener(endpoints.hang_up) as listener:
        code, said, _ = run_online(
            command,
            "someorg/some-model",
            "--config",
            LLAMA,
            endpoint=f"http://127.0.0.1:{listener.port}",
            token="hf_not_a_real_token",
        )
    assert code == 0, said
    assert model_requests(listener) == []


def test_planning_a_gated_model_does_not_check_the_licence() -> None:
    """Only deploy checks access (tests/unit/test_deploy_wording.py): a plan needs no Hub."""
    with endpoints.Listener(endpoints.hang_up) as listener:
        code, said, _ = run_online(
            "plan",
            "llama-3.1-8b",
            endpoint=f"http://127.0.0.1:{listener.port}",
            token="hf_not_a_real_token",
        )
    assert code == 0, said
    assert model_requests(listener) == []


def test_offline_by_request_reads_only_the_cache() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kubefoundry.cli", "plan", "someorg/some-model"],
        capture_output=True,
        text=True,
        env=os.environ | {"COLUMNS": "200", "HF_HUB_OFFLINE": "1"},
        timeout=120,
        check=False,
    )
    said = " ".join(result.stderr.split())
    assert result.returncode == 2
    assert (
        "Offline (HF_HUB_OFFLINE=1): config.json of someorg/some-model is not in the local "
        "Hugging Face cache."
    ) in said
    assert "--config FILE" in said
