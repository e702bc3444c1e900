"""Resolve any model name: the curated catalog first, then a local config.json, then the Hub.

A model outside the catalog is described by its ``config.json`` (the architecture), its
safetensors metadata (the exact parameter count per dtype) and its model info (gating,
licence, task). This is the one module that imports ``huggingface_hub``, and only inside
functions, so importing the catalog never touches the network. The config is cached on disk
by ``huggingface_hub`` (its cache, or ``cache_dir``); the metadata is cached beside it so an
offline run sees what the last online one saw. Hub errors become KubeFoundry errors that say
how to fix them. A token is passed straight to ``huggingface_hub``: it is never stored on an
entry, never put in a message, never written to the cache.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubefoundry.catalog import architecture, models
from kubefoundry.core.errors import (
    InvalidInputError,
    KubeFoundryError,
    NotFoundError,
    PermanentError,
    RetryableError,
)

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_HF_URL = re.compile(r"^(https?://)?(www\.)?(huggingface\.co|hf\.co)/", re.IGNORECASE)
_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}


@dataclasses.dataclass(frozen=True)
class HubFacts:
    """What the Hub says beyond config.json; every field may be unknown."""

    params_by_dtype: Mapping[str, int] = dataclasses.field(default_factory=dict)
    gated: bool | None = None
    license: str | None = None
    pipeline_tag: str | None = None


def resolve_model(
    name_or_id: str,
    *,
    catalog: models.ModelCatalog,
    token: str | None = None,
    config_file: str | Path | None = None,
    cache_dir: str | Path | None = None,
    offline: bool = False,
) -> models.ModelEntry:
    """The catalog entry for ``name_or_id``, or one built from ``config_file`` or the Hub."""
    entry = catalog.find(name_or_id)
    if entry is not None:
        return entry
    if config_file is not None:
        return from_config_file(config_file, model_id=name_or_id, catalog=catalog)
    repo_id = _HF_URL.sub("", name_or_id.strip()).strip("/")
    if not _REPO_ID.match(repo_id):
        raise NotFoundError(
            kind="model",
            name=name_or_id,
            suggestions=catalog.suggest(name_or_id),
            hint=models.NOT_FOUND_HINT,
        )
    return _from_hub(repo_id, catalog=catalog, token=token, cache_dir=cache_dir, offline=offline)


def from_config_file(
    path: str | Path, *, model_id: str, catalog: models.ModelCatalog
) -> models.ModelEntry:
    """An entry for ``model_id`` described by a local ``config.json`` (or a folder holding one)."""
    file = Path(path)
    if file.is_dir():
        file = file / "config.json"
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(
            f"Cannot read the config file {file}: {exc.strerror or type(exc).__name__}.",
            hint="Pass the path of the model's config.json (or of the folder that holds it).",
        ) from None
    config = _parse_config(text, origin=str(file))
    return build_entry(
        config,
        model_id=model_id,
        catalog=catalog,
        source=str(file),
        config_source=f"local file {file}",
    )


def build_entry(
    config: Mapping[str, Any],
    *,
    model_id: str,
    catalog: models.ModelCatalog,
    source: str,
    config_source: str,
    facts: HubFacts | None = None,
) -> models.ModelEntry:
    """A non-curated entry: architecture from ``config``, engines inferred from the catalog."""
    facts = facts or HubFacts()
    try:
        arch = architecture.from_hf_config(config)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{model_id}: {exc.message}", hint=exc.hint) from None
    quant = arch.quantization.method if arch.quantization else "none"
    # Stored element counts equal parameters only for unquantized checkpoints (packed int4,
    # mxfp4 blocks and fp8 scales change them); otherwise the memory model counts from config.
    total = sum(facts.params_by_dtype.values()) if quant == "none" else 0
    engines, engine_note = _engines(arch, catalog)
    return models.ModelEntry(
        id=model_id,
        name=model_id.rstrip("/").split("/")[-1],
        family=_family(arch, catalog),
        arch=arch,
        context_length=arch.max_position_embeddings,
        config=models.freeze(dict(config)),
        params=total or None,
        params_source="safetensors-metadata" if total else "derived-from-config",
        params_by_dtype=models.FrozenDict(facts.params_by_dtype),
        native_dtype=_native_dtype(arch),
        quantization=quant,
        gated=facts.gated,
        license=facts.license,
        task="multimodal"
        if arch.vision or _is_multimodal(facts.pipeline_tag)
        else "text-generation",
        engines=engines,
        source=source,
        config_source=config_source,
        notes=engine_note,
    )


def _from_hub(
    repo_id: str,
    *,
    catalog: models.ModelCatalog,
    token: str | None,
    cache_dir: str | Path | None,
    offline: bool,
) -> models.ModelEntry:
    import huggingface_hub

    try:
        path = huggingface_hub.hf_hub_download(
            repo_id, "config.json", token=token, cache_dir=cache_dir, local_files_only=offline
        )
    except Exception as exc:
        translated = _translate(exc, repo_id=repo_id, catalog=catalog, token=token, offline=offline)
        if translated is None:
            raise  # not a Hub or network failure: a bug to see with its traceback
        raise translated from None
    config = _parse_config(Path(str(path)).read_text(encoding="utf-8"), origin=repo_id)
    facts_file = _facts_file(repo_id, cache_dir)
    facts = _read_facts(facts_file) if offline else _fetch_facts(repo_id, token=token)
    if not offline:
        _write_facts(facts_file, facts)
    return build_entry(
        config,
        model_id=repo_id,
        catalog=catalog,
        source=f"https://huggingface.co/{repo_id}",
        config_source="Hugging Face Hub config.json",
        facts=facts,
    )


def check_access(
    repo_id: str, *, token: str | None, catalog: models.ModelCatalog, offline: bool = False
) -> None:
    """Raise unless ``token`` may download ``repo_id`` (a gated model's licence accepted).

    Run before deploying a gated model, so a missing licence is a clear error here rather
    than a pod that crash-loops on a 403 after the image pull.
    """
    import huggingface_hub

    try:
        huggingface_hub.auth_check(repo_id, token=token)
    except Exception as exc:
        translated = _translate(exc, repo_id=repo_id, catalog=catalog, token=token, offline=offline)
        if translated is None:
            raise
        raise translated from None


def _translate(
    exc: Exception, *, repo_id: str, catalog: models.ModelCatalog, token: str | None, offline: bool
) -> KubeFoundryError | None:
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
            hint=f"Set HF_TOKEN or --hf-token; accept the licence at {url} first.",
        )
    if isinstance(exc, errors.RepositoryNotFoundError):
        return NotFoundError(
            kind="model",
            name=repo_id,
            suggestions=catalog.suggest(repo_id),
            hint="No such repository on Hugging Face (or it is private: set HF_TOKEN or "
            "--hf-token). " + models.NOT_FOUND_HINT,
        )
    if isinstance(exc, errors.RemoteEntryNotFoundError):
        return InvalidInputError(
            f"{repo_id} has no config.json (a GGUF-only or non-transformers repository?).",
            hint="Pass --config FILE with the config.json of the original model.",
        )
    if isinstance(exc, errors.HfHubHTTPError):
        return _http_error(exc, repo_id=repo_id, token=token)
    # LocalEntryNotFoundError and OfflineModeIsEnabled are OSErrors; so are requests' errors.
    if isinstance(exc, OSError) or _is_transport_error(exc):
        return _unreachable(repo_id, offline=offline)
    return None


def _http_error(exc: Any, *, repo_id: str, token: str | None) -> KubeFoundryError:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    detail = _scrub(str(getattr(exc, "server_message", None) or ""), token)[:200]
    said = f" ({detail})" if detail else ""
    if status == 401:
        return PermanentError(
            f"Hugging Face refused the credentials for {repo_id} (401){said}.",
            hint="Set HF_TOKEN or --hf-token to a valid token "
            "(https://huggingface.co/settings/tokens).",
        )
    if status == 429 or (isinstance(status, int) and status >= 500):
        return RetryableError(
            f"Hugging Face answered {status} for {repo_id}{said}.",
            delay_s=30.0 if status == 429 else 5.0,
            hint="Try again shortly, or pass --config FILE to plan without the Hub.",
        )
    return PermanentError(
        f"Hugging Face answered {status} for {repo_id}{said}.",
        hint="Check the model id, or pass --config FILE with its config.json.",
    )


def _unreachable(repo_id: str, *, offline: bool) -> KubeFoundryError:
    hint = (
        "Pass --config FILE with the model's config.json, or resolve it once online "
        "(it is cached afterwards)."
    )
    if offline:
        return PermanentError(
            f"Offline: config.json of {repo_id} is not in the local Hugging Face cache.", hint=hint
        )
    return RetryableError(
        f"Cannot reach Hugging Face to fetch config.json of {repo_id}, and it is not cached.",
        delay_s=5.0,
        hint="Check the network or proxy (HF_ENDPOINT), or " + hint[0].lower() + hint[1:],
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


def _parse_config(text: str, *, origin: str) -> dict[str, Any]:
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"{origin}: config.json is not valid JSON (line {exc.lineno}: {exc.msg}).",
            hint="Pass the model's own config.json, unmodified.",
        ) from None
    if not isinstance(config, dict):
        raise InvalidInputError(f"{origin}: config.json must be a JSON object.")
    return config


def _engines(
    arch: architecture.ModelArch, catalog: models.ModelCatalog
) -> tuple[tuple[str, ...], str | None]:
    """Engines that serve curated models of the same architecture class and quantization."""
    quant = arch.quantization.method if arch.quantization else "none"
    seen: set[str] = set()
    for entry in catalog.all():
        if entry.arch.architectures[:1] == arch.architectures[:1] and entry.quantization == quant:
            seen.update(e for e in entry.engines if e != "llamacpp")  # needs a GGUF build
    if seen:
        return tuple(e for e in models.ENGINES if e in seen), None
    name = (arch.architectures or (arch.model_type,))[0]
    return ("vllm",), f"Engine support for {name} ({quant}) is not in the catalog; vLLM assumed."


def _family(arch: architecture.ModelArch, catalog: models.ModelCatalog) -> str:
    for entry in catalog.all():
        if entry.arch.model_type == arch.model_type:
            return entry.family
    return re.sub(r"[^a-z0-9]+", "-", arch.model_type.lower()).strip("-") or "unknown"


def _native_dtype(arch: architecture.ModelArch) -> str:
    q = arch.quantization
    if q is None:
        return _DTYPES.get(arch.torch_dtype, arch.torch_dtype)
    if q.method in ("fp8", "mxfp4"):
        return q.method
    return f"int{q.bits}"


def _is_multimodal(pipeline_tag: str | None) -> bool:
    return bool(pipeline_tag) and pipeline_tag in ("image-text-to-text", "any-to-any")


def _is_transport_error(exc: BaseException) -> bool:
    """httpx-style connection and timeout errors, whichever HTTP client huggingface_hub uses."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"TransportError", "TimeoutException", "ConnectError", "NetworkError"})


def _scrub(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text
