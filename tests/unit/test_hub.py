"""Resolving models outside the catalog: a local config.json, or the Hub through fakes.

No test reaches the network: ``huggingface_hub``'s download, safetensors-metadata and
model-info functions are replaced by the fakes below, which record what they were given.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import huggingface_hub
import pytest
from huggingface_hub import errors
from tests.conftest import hf_config

from kubefoundry.catalog import hub, models
from kubefoundry.core.errors import (
    InvalidInputError,
    KubeFoundryError,
    NotFoundError,
    PermanentError,
    Remedy,
    RetryableError,
)

CATALOG = models.ModelCatalog.load()
CANARY = "hf_CANARYtokenMustNeverLeak0123456789"


@dataclasses.dataclass
class FakeResponse:
    """Stands in for the HTTP response huggingface_hub attaches to its errors."""

    status_code: int
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    request: Any = None


def http_error(cls: type[Exception], status: int, server_message: str | None = None) -> Any:
    return cls(
        f"{status} Client Error", response=FakeResponse(status), server_message=server_message
    )


@dataclasses.dataclass
class FakeCard:
    data: dict[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


@dataclasses.dataclass
class FakeHub:
    """Fake hf_hub_download / get_safetensors_metadata / model_info with a call log."""

    files: Path
    config: dict[str, Any] | None = None
    probe_error: Exception | None = None
    download_error: Exception | None = None
    counts: dict[str, int] | None = None
    metadata_error: Exception | None = None
    gated: Any = False
    card: dict[str, Any] = dataclasses.field(default_factory=lambda: {"license": "apache-2.0"})
    info_error: Exception | None = None
    calls: list[tuple[str, dict[str, Any]]] = dataclasses.field(default_factory=list)

    def get_hf_file_metadata(self, url: str, **kwargs: Any) -> Any:
        self.calls.append(("probe", {"url": url, **kwargs}))
        if self.probe_error is not None:
            raise self.probe_error
        return None

    def hf_hub_download(self, repo_id: str, filename: str, **kwargs: Any) -> str:
        self.calls.append(("download", {"repo_id": repo_id, "filename": filename, **kwargs}))
        if self.download_error is not None:
            raise self.download_error
        path = self.files / repo_id.replace("/", "--") / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.config))
        return str(path)

    def get_safetensors_metadata(self, repo_id: str, **kwargs: Any) -> Any:
        self.calls.append(("metadata", {"repo_id": repo_id, **kwargs}))
        if self.metadata_error is not None:
            raise self.metadata_error
        return type("FakeMetadata", (), {"parameter_count": self.counts or {}})()

    def model_info(self, repo_id: str, **kwargs: Any) -> Any:
        self.calls.append(("info", {"repo_id": repo_id, **kwargs}))
        if self.info_error is not None:
            raise self.info_error
        fields = {"gated": self.gated, "card_data": FakeCard(self.card), "pipeline_tag": None}
        return type("FakeModelInfo", (), fields)()

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeHub:
    fake = FakeHub(files=tmp_path / "downloads", config=hf_config("microsoft__phi-2"))
    names = ("get_hf_file_metadata", "hf_hub_download", "get_safetensors_metadata", "model_info")
    for name in names:
        monkeypatch.setattr(huggingface_hub, name, getattr(fake, name))
    return fake


def resolve(name: str, tmp_path: Path, **kwargs: Any) -> models.ModelEntry:
    return hub.resolve_model(name, catalog=CATALOG, cache_dir=tmp_path / "cache", **kwargs)


# ----------------------------------------------------------------------------- catalog first


def test_a_catalog_name_never_reaches_the_hub(fake_hub: FakeHub, tmp_path: Path) -> None:
    entry = resolve("llama-3.1-8b", tmp_path, token=CANARY, config_file=tmp_path / "nope.json")
    assert entry.id == "meta-llama/Llama-3.1-8B-Instruct"
    assert entry.curated
    assert fake_hub.calls == []


def test_a_name_that_is_no_repo_id_is_not_found_without_the_hub(
    fake_hub: FakeHub, tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError) as caught:
        resolve("qwen3-9b", tmp_path)
    assert "qwen3-8b" in caught.value.suggestions
    assert caught.value.remedies == (Remedy.MODEL_CONFIG,)
    assert "--" not in (caught.value.hint or "")
    assert fake_hub.calls == []


# ----------------------------------------------------------------------------- --config FILE


@pytest.mark.parametrize(
    ("config_name", "engines", "family"),
    [
        # An architecture class the catalog serves: engines come from it (no GGUF: no llamacpp).
        ("Qwen__Qwen2-7B-Instruct", ("vllm", "sglang", "tgi", "trtllm"), "qwen"),
        # One it does not know: vLLM is assumed, and the entry says so.
        ("microsoft__phi-2", ("vllm",), "phi"),
    ],
)
def test_config_file_builds_an_entry(
    tmp_path: Path, config_name: str, engines: tuple[str, ...], family: str
) -> None:
    (tmp_path / "config.json").write_text(json.dumps(hf_config(config_name)))
    for path in (tmp_path / "config.json", tmp_path):  # the file, or the folder holding it
        entry = resolve("acme/my-finetune", tmp_path, config_file=path)
        assert (entry.id, entry.name, entry.curated) == ("acme/my-finetune", "my-finetune", False)
        assert (entry.engines, entry.family) == (engines, family)
        assert entry.params is None
        assert entry.params_source == "derived-from-config"
        assert entry.gated is None
        assert entry.context_length == entry.arch.max_position_embeddings
    assert (entry.notes is None) == (family == "qwen")


def test_config_file_with_quantization_and_vision(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(hf_config("openai__gpt-oss-20b")))
    entry = resolve("acme/oss-tuned", tmp_path, config_file=path)
    assert (entry.quantization, entry.native_dtype) == ("mxfp4", "mxfp4")
    assert entry.engines == ("vllm", "sglang", "trtllm")
    path.write_text(json.dumps(hf_config("google__gemma-3-27b-it")))
    assert resolve("acme/gemma-tuned", tmp_path, config_file=path).task == "multimodal"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "Cannot read the config file"),
        ("{not json", "not valid JSON (line 1"),
        ("[1, 2]", "must be a JSON object"),
        ('{"model_type": "llama"}', "acme/broken: config.json lacks the field"),
    ],
)
def test_config_file_errors_say_what_is_wrong(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        resolve("acme/broken", tmp_path, config_file=path)


# ----------------------------------------------------------------------------- the Hub


def test_hub_entry_has_exact_counts_gating_and_licence(fake_hub: FakeHub, tmp_path: Path) -> None:
    fake_hub.config = hf_config("Qwen__Qwen2-7B-Instruct")
    fake_hub.counts = {"BF16": 7_615_616_512}
    fake_hub.gated = "manual"
    fake_hub.card = {"license": "other", "license_name": "tongyi-qianwen"}
    entry = resolve("https://huggingface.co/Qwen/Qwen2-7B-Instruct", tmp_path, token=CANARY)
    assert entry.id == "Qwen/Qwen2-7B-Instruct"
    assert (entry.params, entry.params_source) == (7_615_616_512, "safetensors-metadata")
    assert dict(entry.params_by_dtype) == {"BF16": 7_615_616_512}
    assert (entry.gated, entry.license) == (True, "tongyi-qianwen")
    assert entry.source == "https://huggingface.co/Qwen/Qwen2-7B-Instruct"
    assert fake_hub.kinds() == ["probe", "download", "metadata", "info"]
    download = fake_hub.calls[1][1]
    assert download["filename"] == "config.json"
    assert download["cache_dir"] == tmp_path / "cache"
    assert download["local_files_only"] is False
    assert all(args["token"] == CANARY for _, args in fake_hub.calls)  # passed through
    assert CANARY not in repr(entry)
    assert CANARY not in "".join(p.read_text() for p in (tmp_path / "cache").rglob("*.json"))


def test_quantized_hub_checkpoints_keep_counts_but_not_as_params(
    fake_hub: FakeHub, tmp_path: Path
) -> None:
    fake_hub.config = hf_config("openai__gpt-oss-20b")
    fake_hub.counts = {"BF16": 1_800_000_000, "U8": 9_000_000_000}  # packed mxfp4 blocks
    entry = resolve("acme/gpt-oss-20b-tuned", tmp_path)
    assert entry.params is None
    assert dict(entry.params_by_dtype) == fake_hub.counts
    assert entry.quantization == "mxfp4"


def test_missing_metadata_leaves_facts_unknown(fake_hub: FakeHub, tmp_path: Path) -> None:
    fake_hub.metadata_error = errors.NotASafetensorsRepoError("only pytorch_model.bin")
    fake_hub.info_error = http_error(errors.HfHubHTTPError, 500)
    entry = resolve("microsoft/phi-2", tmp_path)
    assert (entry.params, entry.gated, entry.license) == (None, None, None)
    assert entry.arch.model_type == "phi"


def test_offline_reads_the_cached_config_and_facts(fake_hub: FakeHub, tmp_path: Path) -> None:
    fake_hub.counts = {"F16": 2_779_683_840}
    online = resolve("microsoft/phi-2", tmp_path)
    fake_hub.calls.clear()
    offline = resolve("microsoft/phi-2", tmp_path, offline=True)
    assert fake_hub.kinds() == ["download"]
    assert fake_hub.calls[0][1]["local_files_only"] is True
    assert offline == online
    assert offline.params == 2_779_683_840


# ----------------------------------------------------------------------------- Hub errors


def test_gated_repo_without_token_says_how_to_get_access(fake_hub: FakeHub, tmp_path: Path) -> None:
    fake_hub.download_error = http_error(errors.GatedRepoError, 403)
    with pytest.raises(PermanentError) as caught:
        resolve("acme/gated-model", tmp_path)
    hint = caught.value.hint or ""
    assert "HF_TOKEN" in hint
    assert "--hf-token " not in hint  # no such flag
    assert "https://huggingface.co/acme/gated-model" in hint
    assert caught.value.__cause__ is None


def test_not_found_suggests_catalog_models(fake_hub: FakeHub, tmp_path: Path) -> None:
    fake_hub.download_error = http_error(errors.RepositoryNotFoundError, 404)
    with pytest.raises(NotFoundError) as caught:
        resolve("meta-llama/Llama-3.1-8B-Instrukt", tmp_path)
    assert caught.value.kind == "model"
    assert "meta-llama/Llama-3.1-8B-Instruct" in caught.value.suggestions
    assert "HF_TOKEN" in (caught.value.hint or "")
    assert caught.value.remedies == (Remedy.MODEL_CONFIG,)


@pytest.mark.parametrize(
    ("error", "offline", "expected", "text"),
    [
        (errors.LocalEntryNotFoundError("not cached"), True, PermanentError, "Offline"),
        (errors.LocalEntryNotFoundError("no network"), False, RetryableError, "unreachable"),
        (errors.OfflineModeIsEnabled("HF_HUB_OFFLINE=1"), False, PermanentError, "Offline"),
        (type("ConnectError", (Exception,), {})("dns"), False, RetryableError, "unreachable"),
        (http_error(errors.RemoteEntryNotFoundError, 404), False, InvalidInputError, "no config"),
        (http_error(errors.HfHubHTTPError, 503), False, RetryableError, "answered 503"),
        (http_error(errors.HfHubHTTPError, 429), False, RetryableError, "answered 429"),
        (http_error(errors.HfHubHTTPError, 401), False, PermanentError, "refused"),
    ],
)
def test_hub_failures_become_errors_with_a_fix(
    fake_hub: FakeHub,
    tmp_path: Path,
    error: Exception,
    offline: bool,
    expected: type[KubeFoundryError],
    text: str,
) -> None:
    fake_hub.download_error = error
    with pytest.raises(expected, match=text) as caught:
        resolve("acme/some-model", tmp_path, offline=offline)
    err = caught.value
    assert err.remedies == (Remedy.MODEL_CONFIG,) or "HF_TOKEN" in (err.hint or "")
    assert "--" not in (err.hint or "")  # a flag is the CLI's word for the remedy
    assert fake_hub.kinds() == (["download"] if offline else ["probe", "download"])


def test_an_unexpected_failure_is_not_disguised(fake_hub: FakeHub, tmp_path: Path) -> None:
    fake_hub.download_error = RuntimeError("a bug")
    with pytest.raises(RuntimeError, match="a bug"):
        resolve("acme/some-model", tmp_path)


@pytest.mark.parametrize(
    "error",
    [
        http_error(errors.GatedRepoError, 403, server_message=f"token {CANARY} lacks access"),
        http_error(errors.RepositoryNotFoundError, 401),
        http_error(errors.HfHubHTTPError, 401, server_message=f"bad token {CANARY}"),
        http_error(errors.HfHubHTTPError, 500, server_message=f"echo {CANARY}"),
        errors.LocalEntryNotFoundError(f"cache miss {CANARY}"),
    ],
    ids=["gated", "not-found", "401", "500", "unreachable"],
)
def test_the_token_never_appears_in_an_error(
    fake_hub: FakeHub, tmp_path: Path, error: Exception
) -> None:
    fake_hub.download_error = error
    with pytest.raises(KubeFoundryError) as caught:
        resolve("acme/private-model", tmp_path, token=CANARY)
    err = caught.value
    shown = " ".join([str(err), repr(err), err.message, err.hint or "", repr(err.args)])
    assert CANARY not in shown
    assert err.__cause__ is None
    assert err.__suppress_context__
    assert fake_hub.calls[0][1]["token"] == CANARY


# ----------------------------------------------------------------------------- access check


def test_check_access_passes_when_the_hub_says_yes(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, str | None]] = []

    def fake_auth_check(repo_id: str, *, token: str | None = None, **_: Any) -> None:
        seen.append((repo_id, token))

    monkeypatch.setattr(huggingface_hub, "auth_check", fake_auth_check)
    hub.check_access("meta-llama/Llama-3.1-8B-Instruct", token=CANARY, catalog=CATALOG)
    assert seen == [("meta-llama/Llama-3.1-8B-Instruct", CANARY)]


def test_check_access_on_a_gated_model_says_to_accept_the_licence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from huggingface_hub import errors

    def fake_auth_check(repo_id: str, **_: Any) -> None:
        raise http_error(errors.GatedRepoError, 403)

    monkeypatch.setattr(huggingface_hub, "auth_check", fake_auth_check)
    with pytest.raises(PermanentError, match="no access yet") as err:
        hub.check_access("meta-llama/Llama-3.1-8B-Instruct", token=CANARY, catalog=CATALOG)
    assert CANARY not in str(err.value)
    assert err.value.hint
    assert "huggingface.co/meta-llama/Llama-3.1-8B-Instruct" in err.value.hint
