"""Resolve any model name: the curated catalog first, then a local config.json, then the Hub.

A model outside the catalog is described by its ``config.json`` (the architecture), its
safetensors metadata (the exact parameter count per dtype) and its model info (gating,
licence, task); ``catalog/entries.py`` builds the entry. This is the one module that imports
``huggingface_hub``, and only inside functions, so importing the catalog never touches the
network. The config is cached on disk by ``huggingface_hub`` (its cache, or ``cache_dir``);
the metadata is cached beside it so an offline run sees what the last online one saw.

Reaching the Hub is decided once per run (``Reach``): ``HF_HUB_OFFLINE=1`` means only the
cache is read; otherwise the first request is sent without retries, and if it gets no answer
the Hub counts as unreachable for the rest of the run: the cache serves what it has, and
what it lacks fails at once with the reason, instead of after huggingface_hub's retries
(about half a minute per file). Hub errors become KubeFoundry errors that name the call that
failed and how to fix it. A token is passed straight to ``huggingface_hub``: it is never
stored on an entry, never put in a message, never written to the cache.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

from kubefoundry.catalog import entries, models
from kubefoundry.catalog.entries import HubFacts
from kubefoundry.core import network
from kubefoundry.core.errors import (
    InvalidInputError,
    KubeFoundryError,
    NotFoundError,
    PermanentError,
    Remedy,
    RetryableError,
)

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_HF_URL = re.compile(r"^(https?://)?(www\.)?(huggingface\.co|hf\.co)/", re.IGNORECASE)
_CONFIG = "fetching config.json"
_LICENCE = "the licence check before deploying"


@dataclasses.dataclass
class Reach:
    """Whether this run may, and can, reach the Hub; built once at the entry point.

    ``offline``: the user said not to (``HF_HUB_OFFLINE=1``). ``unreachable``: why the first
    request got no answer; once set, nothing more is sent to the Hub in this run.
    """

    offline: bool = False
    unreachable: str | None = None

    @classmethod
    def from_env(cls) -> Reach:
        from huggingface_hub import constants

        # The environment as it is now: huggingface_hub reads HF_HUB_OFFLINE once, when it
        # is first imported, which may be before the variable was set (a test, a server).
        said = os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}
        return cls(offline=said or constants.is_offline_mode())

    @property
    def online(self) -> bool:
        return not self.offline and self.unreachable is None


def resolve_model(
    name_or_id: str,
    *,
    catalog: models.ModelCatalog,
    token: str | None = None,
    config_file: str | Path | None = None,
    cache_dir: str | Path | None = None,
    offline: bool = False,
    reach: Reach | None = None,
) -> models.ModelEntry:
    """The catalog entry for ``name_or_id``, or one built from ``config_file`` or the Hub."""
    entry = catalog.find(name_or_id)
    if entry is not None:
        return entry
    if config_file is not None:
        return entries.from_config_file(config_file, model_id=name_or_id, catalog=catalog)
    repo_id = _HF_URL.sub("", name_or_id.strip()).strip("/")
    if not _REPO_ID.match(repo_id):
        raise NotFoundError(
            kind="model",
            name=name_or_id,
            suggestions=catalog.suggest(name_or_id),
            hint=models.NOT_FOUND_HINT,
            remedies=(Remedy.MODEL_CONFIG,),
        )
    reach = reach or Reach(offline=offline)
    return _from_hub(repo_id, catalog=catalog, token=token, cache_dir=cache_dir, reach=reach)


def _from_hub(
    repo_id: str,
    *,
    catalog: models.ModelCatalog,
    token: str | None,
    cache_dir: str | Path | None,
    reach: Reach,
) -> models.ModelEntry:
    import huggingface_hub

    if reach.online:
        _probe(repo_id, catalog=catalog, token=token, reach=reach)
    online = reach.online
    try:
        path = huggingface_hub.hf_hub_download(
            repo_id, "config.json", token=token, cache_dir=cache_dir, local_files_only=not online
        )
    except Exception as exc:
        if _gets_no_answer(exc, reach):
            raise _not_cached(repo_id, reach) from None
        translated = _translate(exc, repo_id=repo_id, catalog=catalog, token=token)
        if translated is None:
            raise  # not a Hub or network failure: a bug to see with its traceback
        raise translated from None
    config = entries.parse_config(Path(str(path)).read_text(encoding="utf-8"), origin=repo_id)
    facts_file = _facts_file(repo_id, cache_dir)
    facts = _fetch_facts(repo_id, token=token) if online else _read_facts(facts_file)
    if online:
        _write_facts(facts_file, facts)
    return entries.build_entry(
        config,
        model_id=repo_id,
        catalog=catalog,
        source=f"https://huggingface.co/{repo_id}",
        config_source="Hugging Face Hub config.json",
        facts=facts,
    )


def _probe(repo_id: str, *, catalog: models.ModelCatalog, token: str | None, reach: Reach) -> None:
    """One request for config.json's metadata, without retries: does the Hub answer at all?

    No answer marks ``reach`` unreachable (the caller then reads the cache); an answer that
    is an error (gated, not found, 401) is raised as the download would have raised it.
    """
    import huggingface_hub
    from huggingface_hub import constants

    url = huggingface_hub.hf_hub_url(repo_id, "config.json", endpoint=constants.ENDPOINT)
    try:
        huggingface_hub.get_hf_file_metadata(url, token=token)
    except Exception as exc:
        if _gets_no_answer(exc, reach):
            return
        translated = _translate(exc, repo_id=repo_id, catalog=catalog, token=token)
        if translated is None:
            raise
        raise translated from None


def check_access(
    repo_id: str,
    *,
    token: str | None,
    catalog: models.ModelCatalog,
    reach: Reach | None = None,
) -> str | None:
    """Raise unless ``token`` may download ``repo_id`` (a gated model's licence accepted).

    Run before deploying a gated model, so a missing licence is a clear error here rather
    than a pod that crash-loops on a 403 after the image pull. Offline by request
    (``HF_HUB_OFFLINE=1``) it is skipped: the returned sentence says so, for the caller to
    show. A Hub that does not answer is an error naming this check.
    """
    import huggingface_hub

    reach = reach or Reach()
    if reach.online:
        try:
            huggingface_hub.auth_check(repo_id, token=token)
            return None
        except Exception as exc:
            if not _gets_no_answer(exc, reach):
                translated = _translate(exc, repo_id=repo_id, catalog=catalog, token=token)
                if translated is None:
                    raise
                raise translated from None
    if reach.offline:
        return (
            f"Access to {repo_id} was not checked (HF_HUB_OFFLINE=1): if the token's account "
            "has not accepted its licence, the pods fail with 403 when they download it."
        )
    raise RetryableError(
        f"Could not check that the token may download {repo_id} ({_LICENCE}): "
        f"{_unreachable_words(reach)}.",
        delay_s=5.0,
        hint="Check the network or proxy (HF_ENDPOINT, HTTPS_PROXY) and try again. To deploy "
        "without the check, set HF_HUB_OFFLINE=1: the pods still download the model from "
        "Hugging Face and fail with 403 if the licence was not accepted.",
    )


def _gets_no_answer(exc: Exception, reach: Reach) -> bool:
    """Whether ``exc`` means no answer came (offline or unreachable); records it in ``reach``."""
    from huggingface_hub import errors

    if isinstance(exc, errors.OfflineModeIsEnabled):
        reach.offline = True
        return True
    if isinstance(exc, errors.LocalEntryNotFoundError):
        if reach.online:  # huggingface_hub's own word for "no answer, and not cached"
            reach.unreachable = str(network.classify(exc))
        return True
    if isinstance(exc, errors.HfHubHTTPError) or not (
        isinstance(exc, OSError) or _is_transport_error(exc)
    ):
        return False
    reach.unreachable = str(network.classify(exc))
    return True


def _unreachable_words(reach: Reach) -> str:
    from huggingface_hub import constants

    return f"Hugging Face is unreachable from here ({reach.unreachable} at {constants.ENDPOINT})"


def _not_cached(repo_id: str, reach: Reach) -> KubeFoundryError:
    if reach.offline:
        return PermanentError(
            f"Offline (HF_HUB_OFFLINE=1): config.json of {repo_id} is not in the local "
            "Hugging Face cache.",
            hint="Or unset HF_HUB_OFFLINE once to fetch it (it is cached afterwards).",
            remedies=(Remedy.MODEL_CONFIG,),
        )
    return RetryableError(
        f"{_unreachable_words(reach)}, and config.json of {repo_id} ({_CONFIG}) is not in "
        "the local cache.",
        delay_s=5.0,
        hint="Or check the network or proxy (HF_ENDPOINT, HTTPS_PROXY). Set HF_HUB_OFFLINE=1 "
        "to use only the local cache without trying the network.",
        remedies=(Remedy.MODEL_CONFIG,),
    )


def _translate(
    exc: Exception, *, repo_id: str, catalog: models.ModelCatalog, token: str | None
) -> KubeFoundryError | None:
    """An answer from the Hub that is an error; None for anything else (a bug)."""
    from huggingface_hub import errors

    url = f"https://huggingface.co/{repo_id}"
    if isinstance(exc, errors.GatedRepoError):
        if token:
            return PermanentError(
                f"{repo_id} is gated and the account behind the given token has no access yet.",
                hint=f"Accept the licence at {url} with that account (some repos need approval), "
                "or use another account's token.",
            )
        return PermanentError(
            f"{repo_id} is gated: Hugging Face serves it only to accounts that accepted its terms.",
            hint=f"Set HF_TOKEN; accept the licence at {url} first.",
        )
    if isinstance(exc, errors.RepositoryNotFoundError):
        return NotFoundError(
            kind="model",
            name=repo_id,
            suggestions=catalog.suggest(repo_id),
            hint="No such repository on Hugging Face (or it is private: set HF_TOKEN). "
            + models.NOT_FOUND_HINT,
            remedies=(Remedy.MODEL_CONFIG,),
        )
    if isinstance(exc, errors.RemoteEntryNotFoundError):
        return InvalidInputError(
            f"{repo_id} has no config.json (a GGUF-only or non-transformers repository?).",
            hint="Use the original (transformers) model's config.json.",
            remedies=(Remedy.MODEL_CONFIG,),
        )
    if isinstance(exc, errors.HfHubHTTPError):
        return _http_error(exc, repo_id=repo_id, token=token)
    return None


def _http_error(exc: Any, *, repo_id: str, token: str | None) -> KubeFoundryError:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    detail = _scrub(str(getattr(exc, "server_message", None) or ""), token)[:200]
    said = f" ({detail})" if detail else ""
    if status == 401:
        return PermanentError(
            f"Hugging Face refused the credentials for {repo_id} (401){said}.",
            hint="Set HF_TOKEN to a valid token (https://huggingface.co/settings/tokens).",
        )
    if status == 429 or (isinstance(status, int) and status >= 500):
        return RetryableError(
            f"Hugging Face answered {status} for {repo_id}{said}.",
            delay_s=30.0 if status == 429 else 5.0,
            hint="Or try again shortly.",
            remedies=(Remedy.MODEL_CONFIG,),
        )
    return PermanentError(
        f"Hugging Face answered {status} for {repo_id}{said}.",
        hint="Or check the model id.",
        remedies=(Remedy.MODEL_CONFIG,),
    )


def _fetch_facts(repo_id: str, *, token: str | None) -> HubFacts:
    """Parameter counts and model info; each is optional (old repos ship .bin, not safetensors)."""
    import huggingface_hub

    # Both look-ups only enrich the entry (config.json already arrived): any failure here,
    # from a repo without safetensors to a dropped connection, leaves that fact unknown.
    counts: dict[str, int] = {}
    try:
        meta = huggingface_hub.get_safetensors_metadata(repo_id, token=token)
        counts = {str(k): int(v) for k, v in meta.parameter_count.items()}
    except Exception:
        counts = {}
    try:
        info = huggingface_hub.model_info(
            repo_id, token=token, expand=["gated", "cardData", "pipeline_tag"]
        )
    except Exception:
        return HubFacts(params_by_dtype=counts)
    card = info.card_data
    licence = card.get("license") if card is not None else None
    if licence == "other" and card is not None:
        licence = card.get("license_name") or licence
    return HubFacts(
        params_by_dtype=counts,
        gated=None if info.gated is None else bool(info.gated),
        license=str(licence) if licence else None,
        pipeline_tag=info.pipeline_tag,
    )


def _facts_file(repo_id: str, cache_dir: str | Path | None) -> Path:
    if cache_dir is None:
        from huggingface_hub import constants

        cache_dir = constants.HF_HUB_CACHE
    return Path(cache_dir) / "kubefoundry" / (repo_id.replace("/", "--") + ".json")


def _read_facts(file: Path) -> HubFacts:
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
        return HubFacts(
            params_by_dtype={str(k): int(v) for k, v in raw.get("params_by_dtype", {}).items()},
            gated=raw.get("gated"),
            license=raw.get("license"),
            pipeline_tag=raw.get("pipeline_tag"),
        )
    except (OSError, ValueError, AttributeError, TypeError):
        return HubFacts()


def _write_facts(file: Path, facts: HubFacts) -> None:
    record = dataclasses.asdict(facts) | {"params_by_dtype": dict(facts.params_by_dtype)}
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
    except OSError:
        pass  # a cache is an optimisation; a read-only home must not fail the plan


def _is_transport_error(exc: BaseException) -> bool:
    """httpx-style connection and timeout errors, whichever HTTP client huggingface_hub uses."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"TransportError", "TimeoutException", "ConnectError", "NetworkError"})


def _scrub(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text
