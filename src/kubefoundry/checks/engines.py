"""The vLLM engine settings an object asks for, wherever it writes them.

vLLM flags arrive in many dialects: ``--max-model-len 8192``, ``--max_model_len=8192``,
``-tp 2``, inside ``sh -c "… vllm serve MODEL --tensor-parallel-size 8"``, as Ray Serve
``engine_kwargs`` (``tensor_parallel_size: 2``) or as KAITO's ``inference_config.yaml``
``vllm:`` section (``max-model-len: 16384``). All of them become one :class:`EngineArgs`.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from kubefoundry.checks.documents import items, text, to_float, to_int

_SHORT = {
    "tp": "tensor-parallel-size",
    "pp": "pipeline-parallel-size",
    "dp": "data-parallel-size",
    "q": "quantization",
}
_MODEL_ENV = ("MODEL_ID", "MODEL", "MODEL_NAME")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([kKmM]?)$")
_VLLM_IMAGE = re.compile(r"vllm[-/]openai|/vllm:|^vllm/vllm")


@dataclasses.dataclass(frozen=True)
class EngineArgs:
    """Engine flags by their long name without dashes (``max-model-len``); values as text."""

    flags: Mapping[str, str]
    model: str | None = None
    is_vllm: bool = False  # the settings start a vLLM server (not a shell, not TGI)
    image: str = ""

    def _int(self, name: str) -> int | None:
        value = self.flags.get(name)
        return to_int(value) if value is not None else None

    @property
    def tp(self) -> int | None:
        return self._int("tensor-parallel-size")

    @property
    def pp(self) -> int | None:
        return self._int("pipeline-parallel-size")

    @property
    def dp(self) -> int | None:
        return self._int("data-parallel-size")

    @property
    def world(self) -> int:
        """GPUs one engine uses: TP × PP × DP (vLLM's defaults are 1)."""
        return (self.tp or 1) * (self.pp or 1) * (self.dp or 1)

    @property
    def max_model_len(self) -> int | None:
        """``--max-model-len`` in tokens; vLLM reads ``16k`` as 16000 and ``16K`` as 16384."""
        raw = self.flags.get("max-model-len")
        match = _SIZE.match(raw.strip()) if raw else None
        if not match:
            return None
        scale = {"": 1, "k": 1000, "K": 1024, "m": 10**6, "M": 2**20}[match[2]]
        return int(float(match[1]) * scale)

    @property
    def gpu_memory_utilization(self) -> float | None:
        return to_float(self.flags.get("gpu-memory-utilization"))

    @property
    def vllm_version(self) -> str | None:
        """The vLLM release a ``vllm/vllm-openai:v0.8.5``-style image tag names."""
        tag = self.image.rpartition(":")[2] if ":" in self.image else ""
        match = re.match(r"^v?(\d+\.\d+(?:\.\d+)?)", tag)
        return match[1] if match and _VLLM_IMAGE.search(self.image) else None

    def merged(self, **flags: Any) -> EngineArgs:
        """These settings with ``flags`` added where not already given (None values skipped)."""
        extra = {
            _normalise(k): _text(v) for k, v in flags.items() if v is not None and _text(v) != ""
        }
        return dataclasses.replace(self, flags={**extra, **self.flags})


def from_container(container: Mapping[str, Any]) -> EngineArgs:
    """The engine flags of a container: command + args (shell strings split), model env."""
    tokens = tokenize([*items(container, "command"), *items(container, "args")])
    flags, positional = parse_flags(tokens)
    image = text(container, "image") or ""
    env = {text(e, "name"): text(e, "value") for e in items(container, "env") if text(e, "value")}
    model = flags.get("model") or flags.get("model-id") or positional
    model = model or next((env[k] for k in _MODEL_ENV if env.get(k)), None)
    joined = " ".join(tokens)
    server = "vllm.entrypoints" in joined or "dynamo.vllm" in joined or positional is not None
    server = server or (not items(container, "command") and bool(_VLLM_IMAGE.search(image)))
    return EngineArgs(flags=flags, model=model, is_vllm=server, image=image)


def from_kwargs(kwargs: Mapping[str, Any], *, model: str | None = None) -> EngineArgs:
    """Engine settings written as a mapping (Ray ``engine_kwargs``, KAITO ``vllm:``)."""
    flags = {_normalise(str(k)): _text(v) for k, v in kwargs.items() if _scalar(v)}
    return EngineArgs(flags=flags, model=model or flags.get("model"), is_vllm=True)


def tokenize(raw: Sequence[Any]) -> list[str]:
    """Command-line words; strings holding a whole shell command line are split like sh."""
    tokens: list[str] = []
    for item in raw:
        if not isinstance(item, str | int | float) or isinstance(item, bool):
            continue
        word = str(item)
        if any(c.isspace() for c in word.strip()):
            try:
                parts = shlex.split(word, comments=True)
            except ValueError:
                parts = word.split()
            tokens += [p.rstrip(";&|") for p in parts if p.rstrip(";&|")]
        else:
            tokens.append(word)
    return tokens


def parse_flags(tokens: Sequence[str]) -> tuple[dict[str, str], str | None]:
    """(``--flag value`` pairs by normalised name, the model ``vllm serve`` names)."""
    flags: dict[str, str] = {}
    positional = None
    i = 0
    while i < len(tokens):
        word = tokens[i]
        if word.startswith("-") and len(word) > 1 and not _is_number(word):
            name, eq, value = word.lstrip("-").partition("=")
            name = _normalise(_SHORT.get(name, name) if not word.startswith("--") else name)
            if not eq and i + 1 < len(tokens) and not tokens[i + 1].startswith("-"):
                value, i = tokens[i + 1], i + 1
            flags[name] = value
        elif word == "serve" and i > 0 and tokens[i - 1].rsplit("/", 1)[-1] == "vllm":
            following = tokens[i + 1] if i + 1 < len(tokens) else ""
            if following and not following.startswith("-"):
                positional, i = following, i + 1
        i += 1
    return flags, positional


def _normalise(name: str) -> str:
    return name.strip().lstrip("-").replace("_", "-").lower()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else ""
    return str(value)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _is_number(word: str) -> bool:
    return to_float(word) is not None
