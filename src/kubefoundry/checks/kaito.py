"""Reading KAITO objects: Workspace (fields at the top level) and InferenceSet (``spec``).

The custom vLLM settings live in a ConfigMap the object names in ``inference.config``;
KAITO reads only its ``inference_config.yaml`` key, and in that file only ``vllm:``,
``max_probe_steps`` and ``kv_cache_cpu_memory_utilization``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import yaml

from kubefoundry.checks.context import Context
from kubefoundry.checks.documents import Document, mapping, text

CONFIG_KEY = "inference_config.yaml"
CONFIG_FIELDS = ("vllm", "max_probe_steps", "kv_cache_cpu_memory_utilization")
KINDS = ("Workspace", "InferenceSet")
DEFAULT_GPU_MEMORY_UTILIZATION = 0.95  # KAITO's default (capped at the GPU's free memory)


@dataclasses.dataclass(frozen=True)
class Config:
    configmap: Document
    data: Mapping[str, Any] | None  # the parsed inference_config.yaml; None if absent/invalid
    error: str | None = None  # why it could not be read


def base(doc: Document) -> tuple[str, Mapping[str, Any]]:
    """(path prefix, the mapping holding ``resource`` and ``inference``)."""
    if doc.kind == "InferenceSet":
        return "spec.template", mapping(doc.obj, "spec", "template")
    return "", doc.obj if isinstance(doc.obj, Mapping) else {}


def config_name(doc: Document) -> str | None:
    if doc.kind not in KINDS:
        return None
    return text(base(doc)[1], "inference", "config")


def preset(doc: Document) -> str | None:
    return text(base(doc)[1], "inference", "preset", "name") if doc.kind in KINDS else None


def config(doc: Document, ctx: Context) -> Config | None:
    name = config_name(doc)
    cm = ctx.find("ConfigMap", name, doc.namespace) if name else None
    if cm is None:
        return None
    raw = mapping(cm.obj, "data").get(CONFIG_KEY)
    if not isinstance(raw, str):
        return Config(configmap=cm, data=None, error=f"no {CONFIG_KEY} key")
    try:
        parsed = yaml.safe_load(raw)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f" at line {mark.line + 1}" if mark else ""
        return Config(cm, None, f"{CONFIG_KEY} is not valid YAML{line}: {exc.problem}")
    except yaml.YAMLError:
        return Config(cm, None, f"{CONFIG_KEY} is not valid YAML")
    if parsed is None:
        return Config(cm, {})
    if not isinstance(parsed, Mapping):
        return Config(cm, None, f"{CONFIG_KEY} must hold a mapping")
    return Config(cm, parsed)
