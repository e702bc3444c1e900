"""The curated model catalog: versioned package data loaded into frozen :class:`ModelEntry` s.

``data/models.yaml`` (``schema_version: 1``) lists the models KubeFoundry knows by heart: their
Hugging Face id, the names people type, licence and gating, the engines that serve them, and
their ``config.json`` fields, which :func:`architecture.from_hf_config` turns into the
:class:`~kubefoundry.catalog.architecture.ModelArch` the memory model reads. The file is
validated with pydantic when loaded (the edge); everything after that is frozen dataclasses.
Models that are not in the catalog come from :mod:`kubefoundry.catalog.hub`.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal, NoReturn

import pydantic
import yaml

from kubefoundry.catalog import architecture
from kubefoundry.core import files, naming
from kubefoundry.core.errors import InvalidInputError, NotFoundError

SCHEMA_VERSION = 1
Engine = Literal["vllm", "sglang", "tgi", "trtllm", "llamacpp"]
QuantizationName = Literal["none", "fp8", "w8a8", "w4a16", "awq", "gptq", "mxfp4"]
Task = Literal["text-generation", "multimodal"]
Dtype = Literal["bf16", "fp16", "fp32", "fp8", "int8", "int4", "mxfp4"]
ENGINES: tuple[str, ...] = ("vllm", "sglang", "tgi", "trtllm", "llamacpp")
NOT_FOUND_HINT = (
    "Use a catalog model's id, name or alias, or pass any Hugging Face id "
    "(org/name, e.g. Qwen/Qwen2.5-7B-Instruct)."
)
_HF_PREFIX = re.compile(r"^(https?://)?(www\.)?(huggingface\.co|hf\.co)/", re.IGNORECASE)


class FrozenDict(dict[str, Any]):
    """A dict that refuses changes. Catalog data is shared, so handing it out must not let one
    caller alter what the next one sees; unlike ``MappingProxyType`` it still serialises
    (``json.dumps``), copies and goes through ``dataclasses.asdict``."""

    def _refuse(self) -> NoReturn:
        raise TypeError("catalog data is read-only; ModelEntry.config_dict() gives a copy")

    def __setitem__(self, key: str, value: Any) -> NoReturn:
        self._refuse()

    def __delitem__(self, key: str) -> NoReturn:
        self._refuse()

    def __ior__(self, other: Any) -> NoReturn:  # type: ignore[misc]
        self._refuse()

    def clear(self) -> NoReturn:
        self._refuse()

    def pop(self, *args: Any) -> NoReturn:
        self._refuse()

    def popitem(self) -> NoReturn:
        self._refuse()

    def setdefault(self, *args: Any) -> NoReturn:
        self._refuse()

    def update(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse()

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenDict:
        return self

    def __reduce__(self) -> tuple[type[FrozenDict], tuple[dict[str, Any]]]:
        return (FrozenDict, (dict(self),))


def _empty() -> Mapping[str, Any]:
    return FrozenDict()


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One model: catalog facts plus its parsed architecture. ``config`` is read-only."""

    id: str
    name: str
    family: str
    arch: architecture.ModelArch
    context_length: int
    config: Mapping[str, Any] = dataclasses.field(default_factory=_empty, repr=False, compare=False)
    params: int | None = None
    params_source: str = "derived-from-config"
    active_params: int | None = None
    params_by_dtype: Mapping[str, int] = dataclasses.field(default_factory=_empty, compare=False)
    native_dtype: str = "bf16"
    quantization: str = "none"
    gated: bool | None = None  # None: not known (a local config.json, an offline look-up)
    license: str | None = None
    task: str = "text-generation"
    engines: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    source: str = ""
    as_of: datetime.date | None = None
    config_source: str = ""
    config_edits: Mapping[str, str] = dataclasses.field(
        default_factory=_empty, repr=False, compare=False
    )
    notes: str | None = None
    curated: bool = False  # True for entries from the curated catalog

    @property
    def is_moe(self) -> bool:
        return self.arch.moe is not None

    @property
    def hf_url(self) -> str:
        return f"https://huggingface.co/{self.id}"

    def config_dict(self) -> dict[str, Any]:
        """A mutable deep copy of ``config`` (lists restored), e.g. to write a config.json."""
        return {key: thaw(value) for key, value in self.config.items()}


def freeze(value: Any) -> Any:
    """Deep read-only copy: mappings become :class:`FrozenDict`, lists become tuples."""
    if isinstance(value, Mapping):
        return FrozenDict({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Inverse of :func:`freeze`: plain dicts and lists again."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


class _Record(pydantic.BaseModel):
    """One ``models:`` item of ``models.yaml`` as written by curators."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    id: str = pydantic.Field(pattern=r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
    name: str = pydantic.Field(min_length=1)
    aliases: list[str] = []
    family: str = pydantic.Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    params: int | None = pydantic.Field(default=None, gt=0)
    params_source: str = pydantic.Field(min_length=1)
    active_params: int | None = pydantic.Field(default=None, gt=0)
    native_dtype: Dtype
    quantization: QuantizationName = "none"
    gated: bool
    license: str = pydantic.Field(min_length=1)
    task: Task
    engines: list[Engine] = pydantic.Field(min_length=1)
    context_length: int = pydantic.Field(gt=0)
    source: str = pydantic.Field(min_length=1)
    as_of: datetime.date
    notes: str | None = None
    config_source: str = pydantic.Field(min_length=1)
    config_edits: dict[str, str] = {}
    config: dict[str, Any]

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> _Record:
        if len(set(self.engines)) != len(self.engines):
            raise ValueError(f"engines repeat a name: {self.engines}")
        if self.active_params is not None and self.params and self.active_params > self.params:
            raise ValueError("active_params exceeds params")
        return self


class _File(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1]
    models: list[_Record] = pydantic.Field(min_length=1)


def name_key(name: str) -> str:
    """Lookup key: no Hugging Face URL prefix, lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", _HF_PREFIX.sub("", name.strip()).lower())


class ModelCatalog:
    """The curated models, looked up by id, display name or alias (case/punctuation-blind)."""

    def __init__(self, entries: Iterable[ModelEntry]) -> None:
        self._entries = tuple(entries)
        self._index: dict[str, ModelEntry] = {}
        for entry in self._entries:
            for key in _keys(entry):
                other = self._index.setdefault(key, entry)
                if other is not entry:
                    raise InvalidInputError(
                        f"Model catalog: {entry.id!r} and {other.id!r} share the name {key!r}.",
                        hint="Every id, name and alias must be unique ignoring case/punctuation.",
                    )

    @classmethod
    def load(cls, path: str | Path | None = None) -> ModelCatalog:
        """Read and validate ``models.yaml`` (the packaged one unless ``path`` is given)."""
        if path is None:
            return _packaged()
        try:
            content = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(f"Cannot read model catalog {path}: {exc.strerror}.") from None
        return cls.from_yaml(content, origin=str(path))

    @classmethod
    def from_yaml(cls, text: str, *, origin: str = "<catalog>") -> ModelCatalog:
        try:
            raw = files.parse_yaml(text)
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"{origin} is not valid YAML: {exc}") from None
        if not isinstance(raw, dict) or raw.get("schema_version") != SCHEMA_VERSION:
            found = raw.get("schema_version") if isinstance(raw, dict) else None
            raise InvalidInputError(
                f"{origin}: schema_version must be {SCHEMA_VERSION}, found {found!r}.",
                hint="This KubeFoundry reads catalog schema 1; upgrade it for newer catalogs.",
            )
        try:
            parsed = _File.model_validate(raw)
        except pydantic.ValidationError as exc:
            raise InvalidInputError(_describe(exc, raw, origin)) from None
        return cls(_entry(record, origin=origin) for record in parsed.models)

    def find(self, name: str) -> ModelEntry | None:
        return self._index.get(name_key(name))

    def get(self, name: str) -> ModelEntry:
        entry = self.find(name)
        if entry is None:
            raise NotFoundError(
                kind="model", name=name, suggestions=self.suggest(name), hint=NOT_FOUND_HINT
            )
        return entry

    def suggest(self, name: str, *, limit: int = 3) -> list[str]:
        """The catalog models whose id, name or alias is closest to ``name``, spelt the way
        the user wrote theirs: Hugging Face ids for ``org/name``, short aliases otherwise."""
        as_id = "/" in name

        def spelt(e: ModelEntry) -> str:
            return e.id if as_id or not e.aliases else e.aliases[0]

        owner = {
            n: spelt(e) for e in self._entries for n in (e.id, e.id.split("/")[-1], *e.aliases)
        }
        hits = naming.suggest(_HF_PREFIX.sub("", name.strip()), owner, limit=limit * 2)
        return list(dict.fromkeys(owner[h] for h in hits))[:limit]

    def all(self) -> tuple[ModelEntry, ...]:
        return self._entries

    def families(self) -> tuple[str, ...]:
        return tuple(sorted({e.family for e in self._entries}))

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None


@functools.cache
def _packaged() -> ModelCatalog:
    """The packaged catalog, read once per process (it never changes while one runs)."""
    text = resources.files("kubefoundry.catalog").joinpath("data/models.yaml")
    return ModelCatalog.from_yaml(text.read_text(encoding="utf-8"), origin="models.yaml")


def _keys(entry: ModelEntry) -> set[str]:
    names = (entry.id, entry.id.split("/")[-1], entry.name, *entry.aliases)
    return {k for k in map(name_key, names) if k}


def _entry(record: _Record, *, origin: str) -> ModelEntry:
    where = f"{origin}: model {record.id!r}"
    try:
        arch = architecture.from_hf_config(record.config)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc.message}", hint=exc.hint) from None
    method = arch.quantization.method if arch.quantization else "none"
    if method != record.quantization:
        raise InvalidInputError(
            f"{where}: quantization is {record.quantization!r} but its config says {method!r}."
        )
    if arch.moe is not None and record.active_params is None:
        raise InvalidInputError(f"{where}: a mixture-of-experts model needs active_params.")
    if record.context_length > arch.max_position_embeddings:
        raise InvalidInputError(
            f"{where}: context_length {record.context_length} exceeds the config's "
            f"max_position_embeddings {arch.max_position_embeddings}."
        )
    return ModelEntry(
        id=record.id,
        name=record.name,
        family=record.family,
        arch=arch,
        context_length=record.context_length,
        config=freeze(record.config),
        params=record.params,
        params_source=record.params_source,
        active_params=record.active_params,
        native_dtype=record.native_dtype,
        quantization=record.quantization,
        gated=record.gated,
        license=record.license,
        task=record.task,
        engines=tuple(record.engines),
        aliases=tuple(record.aliases),
        source=record.source,
        as_of=record.as_of,
        config_source=record.config_source,
        config_edits=FrozenDict(record.config_edits),
        notes=record.notes,
        curated=True,
    )


def _describe(exc: pydantic.ValidationError, raw: Mapping[str, Any], origin: str) -> str:
    models = raw.get("models")
    lines = []
    for error in exc.errors()[:5]:
        loc = list(error["loc"])
        where = ".".join(str(p) for p in loc)
        if len(loc) >= 2 and loc[0] == "models" and isinstance(loc[1], int):
            item = models[loc[1]] if isinstance(models, list) and loc[1] < len(models) else None
            mid = item.get("id") if isinstance(item, dict) else None
            field = ".".join(str(p) for p in loc[2:]) or "(entry)"
            where = f"model #{loc[1]} ({mid or 'no id'}) field {field}"
        lines.append(f"  {where}: {error['msg']}")
    more = exc.error_count() - len(lines)
    tail = f"\n  … and {more} more" if more > 0 else ""
    return f"{origin} does not match the catalog schema:\n" + "\n".join(lines) + tail
