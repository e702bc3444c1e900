"""Entries for models outside the curated catalog, built from their ``config.json``.

Pure: the architecture comes from the config, the parameter counts, gating and licence from
what the Hub said (``HubFacts``, fetched by ``catalog/hub.py``), the engines from curated
models of the same architecture class. A local ``--config FILE`` goes through here without
the Hub.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubefoundry.catalog import architecture, models
from kubefoundry.core.errors import InvalidInputError

_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}


@dataclasses.dataclass(frozen=True)
class HubFacts:
    """What the Hub says beyond config.json; every field may be unknown."""

    params_by_dtype: Mapping[str, int] = dataclasses.field(default_factory=dict)
    gated: bool | None = None
    license: str | None = None
    pipeline_tag: str | None = None


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
    config = parse_config(text, origin=str(file))
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


def parse_config(text: str, *, origin: str) -> dict[str, Any]:
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
