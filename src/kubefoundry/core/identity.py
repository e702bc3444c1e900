"""Identity: the label and annotation keys that say an object is ours, in one place.

Renderers write these keys (``runtimes/common/labels.py``) and the cluster layer, ``deploy``
and the CLI read them back; both import them from here, so a key cannot drift between the
writer and its readers.

- Every object carries ``app.kubernetes.io/managed-by: kubefoundry`` and
  ``kubefoundry.io/deployment: <name>``; ``kubefoundry ls`` is a label query.
- Exactly one object per deployment, its root, carries the annotation
  ``kubefoundry.io/root: "true"``, the plan summary (``kubefoundry.io/plan``, a
  ``PlanSummary`` as compact JSON) and the spec it was made from (``kubefoundry.io/spec``, the
  ``DeploymentSpec`` as compact JSON, defaults left out), which an update merges its changes
  onto. The spec names the token's Secret, never the token, so the annotation holds no secret.
- The model-cache PVC is shared by every deployment of a model: it carries the model label and
  the ``model-cache`` component but no deployment label, and ``kubefoundry.io/keep-on-delete``.

Keys that only one runtime or the sandbox uses (the llm-d pool label, the TGI chart's
environment labels, the sandbox's provisioner) live in that module.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from kubefoundry.core.spec import DeploymentSpec

# Well-known Kubernetes labels.
MANAGED_BY = "app.kubernetes.io/managed-by"
NAME = "app.kubernetes.io/name"
COMPONENT = "app.kubernetes.io/component"
PART_OF = "app.kubernetes.io/part-of"
# Ours: labels.
DEPLOYMENT = "kubefoundry.io/deployment"
MODEL = "kubefoundry.io/model"
RUNTIME = "kubefoundry.io/runtime"
# Ours: annotations.
ROOT = "kubefoundry.io/root"
PLAN = "kubefoundry.io/plan"
SPEC = "kubefoundry.io/spec"
KEEP = "kubefoundry.io/keep-on-delete"
# On a workload whose replicas a scaler owns (none rendered): the count to create it with.
INITIAL_REPLICAS = "kubefoundry.io/initial-replicas"
# Values.
OURS = "kubefoundry"  # managed-by and part-of
MODEL_CACHE = "model-cache"  # the component of the shared model-cache PVC
ENDPOINT_PICKER = "endpoint-picker"  # the component of llm-d's request router pod
# Pods of a deployment that serve no model: their phase is progress, never a replica. By
# component (llm-d's picker), or by this label where an operator sets the component itself
# or one component covers both (KubeRay's head pod: Serve's proxy and the dashboard).
HELPER_COMPONENTS = frozenset({ENDPOINT_PICKER})
HELPER = "kubefoundry.io/helper"  # label, "true"


# Labels an operator puts on the pods it makes from our root, valued with the root's name,
# where our own labels do not reach the pods: KAITO labels a preset's pods only with its
# own keys (the InferenceSet's first: a Workspace it made is named after it, not us).
OPERATOR_POD_LABELS = ("inferenceset.kaito.sh/created-by", "kaito.sh/workspace")


def managed_labels() -> dict[str, str]:
    """The one label every object KubeFoundry writes carries (the token Secret too)."""
    return {MANAGED_BY: OURS}


def managed_selector() -> str:
    """Label selector: every object KubeFoundry manages."""
    return f"{MANAGED_BY}={OURS}"


def deployment_selector(name: str) -> str:
    """Label selector: every object of deployment ``name`` (the model cache is not one)."""
    return f"{DEPLOYMENT}={name}"


def pod_selectors(name: str) -> tuple[str, ...]:
    """Label selectors that together find every pod of deployment ``name``: ours, and each
    operator's own (``OPERATOR_POD_LABELS``)."""
    return (deployment_selector(name), *(f"{key}={name}" for key in OPERATOR_POD_LABELS))


def deployment_of_pod(pod: Mapping[str, Any]) -> str:
    """The deployment a pod belongs to: our label, else the first operator label it has."""
    labels = _labels(pod)
    for key in (DEPLOYMENT, *OPERATOR_POD_LABELS):
        if labels.get(key):
            return str(labels[key])
    return deployment_of(pod)


def model_cache_selector(model: str) -> str:
    """Label selector: the model-cache PVC(s) of ``model`` (its ``MODEL`` label value)."""
    return f"{MODEL}={model},{COMPONENT}={MODEL_CACHE}"


def is_root(obj: Mapping[str, Any]) -> bool:
    """Whether ``obj`` is a deployment's root (the annotation, not a label: no selector).

    An object another controls is not, whatever it carries: an operator may copy the root's
    annotations onto what it makes (KServe's predictor Deployment carries every annotation of
    its InferenceService), and we write no controller reference on a root."""
    meta = obj.get("metadata") or {}
    controlled = any(ref.get("controller") for ref in meta.get("ownerReferences") or ())
    return _annotations(obj).get(ROOT) == "true" and not controlled


def deployment_of(obj: Mapping[str, Any]) -> str:
    """The deployment ``obj`` belongs to; its own name when the label is missing."""
    meta = obj.get("metadata") or {}
    return str(_labels(obj).get(DEPLOYMENT, meta.get("name", "")))


def is_replica_pod(pod: Mapping[str, Any]) -> bool:
    """A pod that serves the model (a replica, or part of one), not a helper such as llm-d's
    endpoint picker, which a deployment needs but whose readiness is no replica's."""
    labels = _labels(pod)
    return labels.get(COMPONENT) not in HELPER_COMPONENTS and labels.get(HELPER) != "true"


def model_of(obj: Mapping[str, Any]) -> str | None:
    """The model label (a DNS label made from the model id), if ``obj`` has one."""
    value = _labels(obj).get(MODEL)
    return str(value) if value else None


def runtime_of(obj: Mapping[str, Any]) -> str | None:
    value = _labels(obj).get(RUNTIME)
    return str(value) if value else None


def summary_of(obj: Mapping[str, Any]) -> PlanSummary | None:
    """The plan summary a root object carries; ``None`` if it has none or it is unreadable."""
    return PlanSummary.from_annotation(_annotations(obj).get(PLAN))


def spec_annotation(spec: DeploymentSpec) -> str:
    """The spec as the root carries it: compact JSON, keys sorted, defaults left out (what
    the user asked for, so a later default applies to an update as it would to a redeploy)."""
    body = spec.model_dump(mode="json", exclude_defaults=True)
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def spec_of(obj: Mapping[str, Any]) -> DeploymentSpec | None:
    """The spec a root object was made from; ``None`` when it has none (made before specs
    rode on the root) or it no longer validates (edited by hand, or a field since renamed)."""
    text = _annotations(obj).get(SPEC)
    if not text:
        return None
    try:
        return DeploymentSpec.model_validate_json(text)
    except (ValidationError, ValueError, RecursionError):
        return None


def with_spec(manifests: Iterable[dict[str, Any]], spec: DeploymentSpec) -> list[dict[str, Any]]:
    """``manifests`` with the spec annotation on the root (a copy of it; the others as is)."""
    out: list[dict[str, Any]] = []
    for obj in manifests:
        if is_root(obj):
            meta = dict(obj.get("metadata") or {})
            meta["annotations"] = {**(meta.get("annotations") or {}), SPEC: spec_annotation(spec)}
            obj = {**obj, "metadata": meta}
        out.append(obj)
    return out


@dataclasses.dataclass(frozen=True)
class PlanSummary:
    """What was decided, as the root object's ``kubefoundry.io/plan`` annotation says it.

    Every field may be ``None``: the writer fills all of them (``usd_per_hour`` is ``None``
    when the GPU has no price), but a reader gets whatever the cluster holds, perhaps written
    by an older KubeFoundry or edited by hand. ``from_annotation`` returns ``None`` when there
    is no summary to read (no annotation, not JSON, not a JSON object) and otherwise a summary
    whose missing or wrongly typed fields are ``None``; it never raises.
    """

    model: str | None = None  # the model id, e.g. meta-llama/Llama-3.1-8B-Instruct
    tier: str | None = None
    gpu: str | None = None  # per replica, e.g. "2xH100"
    tensor_parallel: int | None = None
    pipeline_parallel: int | None = None
    nodes_per_replica: int | None = None
    replicas: int | None = None
    max_model_len: int | None = None
    kv_tokens: int | None = None
    engine: str | None = None  # name and version, e.g. "vllm 0.19.0"
    usd_per_hour: float | None = None  # every node the replicas occupy
    # The speed model's output tokens/s at the planned peak, the whole deployment: what `top`
    # sets the measured rate (and the $ per 1M output tokens both give) beside.
    output_tokens_per_s: float | None = None
    input_tokens_per_s: float | None = None  # the same peak's prompt tokens
    # The share of a replica's time its prompts take, by the speed model: how the plan splits
    # the bill between input and output tokens (and how `top` splits it on what it measures).
    prefill_share: float | None = None

    def to_annotation(self) -> str:
        """Compact JSON, keys sorted: the same plan renders the same bytes (golden files)."""
        body = {key: getattr(self, field) for key, (field, _) in _FIELDS.items()}
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_annotation(cls, text: str | None) -> PlanSummary | None:
        if not text:
            return None
        try:
            body = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested past Python's limit
            return None
        if not isinstance(body, dict):
            return None
        return cls(**{field: kind(body.get(key)) for key, (field, kind) in _FIELDS.items()})


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _amount(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


# The annotation's JSON key → (PlanSummary field, reader that yields None for a wrong type).
_FIELDS: dict[str, tuple[str, Callable[[object], Any]]] = {
    "model": ("model", _text),
    "tier": ("tier", _text),
    "gpu": ("gpu", _text),
    "tensorParallel": ("tensor_parallel", _count),
    "pipelineParallel": ("pipeline_parallel", _count),
    "nodesPerReplica": ("nodes_per_replica", _count),
    "replicas": ("replicas", _count),
    "maxModelLen": ("max_model_len", _count),
    "kvTokens": ("kv_tokens", _count),
    "engine": ("engine", _text),
    "usdPerHour": ("usd_per_hour", _amount),
    "outputTokensPerS": ("output_tokens_per_s", _amount),
    "inputTokensPerS": ("input_tokens_per_s", _amount),
    "prefillShare": ("prefill_share", _amount),
}


def _labels(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return (obj.get("metadata") or {}).get("annotations") or {}
