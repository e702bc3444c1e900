"""Reaching the Hub is decided once: offline by request, or unreachable after one try.

The Hub's functions are replaced by the fakes of ``test_hub.py`` (which record every call),
except in the last tests, where the real ``huggingface_hub`` resolves a model against a
closed port on 127.0.0.1 and a listener that counts connections (its endpoint patched the
way HF_ENDPOINT sets it; the licence check's client reads HF_ENDPOINT only at import, so the
CLI tests cover it in a subprocess).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import huggingface_hub
import pytest
from huggingface_hub import constants, errors
from tests.support import endpoints
from tests.unit.test_hub import CANARY, CATALOG, FakeHub, fake_hub, http_error

from kubefoundry.catalog import hub
from kubefoundry.core.errors import NotFoundError, PermanentError, Remedy, RetryableError

__all__ = ["fake_hub"]  # the fixture, shared with test_hub.py
REFUSED = httpx2.ConnectError("[Errno 111] Connection refused")


def resolve(name: str, tmp_path: Path, reach: hub.Reach, **kwargs: Any) -> Any:
    return hub.resolve_model(
        name, catalog=CATALOG, cache_dir=tmp_path / "cache", reach=reach, **kwargs
    )


def test_no_answer_fails_at_once_when_the_config_is_not_cached(
    fake_hub: FakeHub, tmp_path: Path
) -> None:
    fake_hub.probe_error = REFUSED
    fake_hub.download_error = errors.LocalEntryNotFoundError("not in the cache")
    reach = hub.Reach()
    with pytest.raises(RetryableError) as caught:
        resolve("acme/some-model", tmp_path, reach)
    err = caught.value
    assert err.message == (
        f"Hugging Face is unreachable from here (connection refused at {constants.ENDPOINT}), "
        "and config.json of acme/some-model (fetching config.json) is not in the local cache."
    )
    assert err.remedies == (Remedy.MODEL_CONFIG,)  # each surface words it (the CLI: --config)
    assert "--" not in (err.hint or "")
    assert "HF_HUB_OFFLINE=1" in (err.hint or "")
    assert reach.unreachable == "connection refused"
    assert fake_hub.kinds() == ["probe", "download"]  # one try, then the cache only
    assert fake_hub.calls[1][1]["local_files_only"] is True


def test_no_answer_uses_the_cached_config_and_facts(fake_hub: FakeHub, tmp_path: Path) -> None:
    fake_hub.counts = {"F16": 2_779_683_840}
    online = resolve("microsoft/phi-2", tmp_path, hub.Reach())
    fake_hub.calls.clear()
    fake_hub.probe_error = REFUSED
    cached = resolve("microsoft/phi-2", tmp_path, hub.Reach())
    assert cached == online
    assert fake_hub.kinds() == ["probe", "download"]  # no metadata, no model info


def test_an_answer_that_is_an_error_is_translated_without_downloading(
    fake_hub: FakeHub, tmp_path: Path
) -> None:
    fake_hub.probe_error = http_error(errors.RepositoryNotFoundError, 404)
    reach = hub.Reach()
    with pytest.raises(NotFoundError):
        resolve("acme/no-such-model", tmp_path, reach)
    assert fake_hub.kinds() == ["probe"]
    assert reach.online


def test_offline_by_request_sends_nothing(fake_hub: FakeHub, tmp_path: Path) -> None:
    fake_hub.download_error = errors.LocalEntryNotFoundError("not cached")
    with pytest.raises(PermanentError, match=r"Offline \(HF_HUB_OFFLINE=1\)") as caught:
        resolve("acme/some-model", tmp_path, hub.Reach(offline=True))
    assert caught.value.remedies == (Remedy.MODEL_CONFIG,)
    assert "unset HF_HUB_OFFLINE" in (caught.value.hint or "")
    assert "--" not in (caught.value.hint or "")
    assert fake_hub.kinds() == ["download"]


def test_a_config_file_never_asks_the_hub(fake_hub: FakeHub, tmp_path: Path) -> None:
    from tests.conftest import CONFIGS

    config = CONFIGS / "meta-llama__Llama-3.1-8B-Instruct.json"
    entry = resolve("acme/llama-tuned", tmp_path, hub.Reach(), config_file=config, token=CANARY)
    assert entry.id == "acme/llama-tuned"
    assert fake_hub.calls == []


# ----------------------------------------------------------------------------- licence check


@pytest.fixture
def auth_calls(monkeypatch: pytest.MonkeyPatch) -> list[Exception | None]:
    """What auth_check was asked; set ``auth_calls.append(error)`` before to make it fail."""
    calls: list[Exception | None] = []

    def fake_auth_check(repo_id: str, **_: Any) -> None:
        error = calls[0] if calls else None
        calls.append(None)
        if error is not None:
            raise error

    monkeypatch.setattr(huggingface_hub, "auth_check", fake_auth_check)
    return calls


def check(reach: hub.Reach) -> str | None:
    return hub.check_access(
        "meta-llama/Llama-3.1-8B-Instruct", token=CANARY, catalog=CATALOG, reach=reach
    )


def test_the_licence_check_names_itself_when_the_hub_does_not_answer(
    auth_calls: list[Exception | None],
) -> None:
    auth_calls.append(REFUSED)
    reach = hub.Reach()
    with pytest.raises(RetryableError) as caught:
        check(reach)
    err = caught.value
    assert err.message.startswith(
        "Could not check that the token may download meta-llama/Llama-3.1-8B-Instruct "
        "(the licence check before deploying): Hugging Face is unreachable from here "
        "(connection refused at "
    )
    assert "config.json" not in err.message
    assert "HF_HUB_OFFLINE=1" in (err.hint or "")
    assert CANARY not in str(err)
    assert reach.unreachable == "connection refused"


def test_once_unreachable_the_licence_check_is_not_tried_again(
    auth_calls: list[Exception | None],
) -> None:
    with pytest.raises(RetryableError, match="the licence check"):
        check(hub.Reach(unreachable="connection refused"))
    assert auth_calls == []


def test_offline_by_request_the_licence_check_is_skipped_with_a_warning(
    auth_calls: list[Exception | None],
) -> None:
    said = check(hub.Reach(offline=True))
    assert said is not None
    assert said.startswith("Access to meta-llama/Llama-3.1-8B-Instruct was not checked")
    assert "403" in said
    assert auth_calls == []


def test_a_passed_licence_check_says_nothing(auth_calls: list[Exception | None]) -> None:
    assert check(hub.Reach()) is None
    assert len(auth_calls) == 1


# ----------------------------------------------------------------------------- real client


@pytest.fixture
def real_hub_at(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point the real huggingface_hub at a local endpoint, online (as HF_ENDPOINT would)."""

    def point(endpoint: str) -> None:
        template = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr(constants, "ENDPOINT", endpoint)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    return point


def test_no_answer_is_found_in_one_connection(real_hub_at: Any, tmp_path: Path) -> None:
    with endpoints.Listener(endpoints.hang_up) as listener:
        real_hub_at(f"http://127.0.0.1:{listener.port}")
        reach = hub.Reach()
        with pytest.raises(RetryableError, match="Hugging Face is unreachable from here"):
            resolve("acme/some-model", tmp_path, reach)
    # One request for the model; huggingface_hub alone retries it with back-off. (It also
    # fetches its agent registry once, on its own: not a request about the model.)
    asked = [r for r in listener.requests if "agent-harnesses" not in r]
    assert asked == ["HEAD /acme/some-model/resolve/main/config.json"]
    assert reach.unreachable == "the connection was closed before an answer"


def test_a_refused_connection_is_named(real_hub_at: Any, tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{endpoints.closed_port()}"
    real_hub_at(endpoint)
    with pytest.raises(RetryableError) as caught:
        resolve("acme/some-model", tmp_path, hub.Reach())
    assert f"(connection refused at {endpoint})" in caught.value.message
