"""What an update would change, in words a person reads: object diffs and plan changes.

Pure functions over plain dicts, so the tests need no cluster. An object is compared as the
API server holds it now and as a server-side dry run of the new one says it would be: both
carry the cluster's defaults, so what differs is what the update changes, not what the
server fills in. The bookkeeping (resourceVersion, managedFields, uid, timestamps,
generation, status) is left out of both; our two JSON annotations (the plan summary and the
spec) are shown as YAML, so a changed replica count reads as one line, not one long one.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

import yaml

from kubefoundry.core import identity

# Metadata the API server keeps for itself; never something an update changes.
NOISE = ("resourceVersion", "managedFields", "uid", "creationTimestamp", "generation", "selfLink")
_JSON_ANNOTATIONS = (identity.PLAN, identity.SPEC)


def clean(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` without status and the server's bookkeeping, our JSON annotations unfolded."""
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in NOISE}
    notes = dict(meta.get("annotations") or {})
    for key in _JSON_ANNOTATIONS:
        if key in notes:
            notes[key] = _unfolded(notes[key])
    if notes:
        meta["annotations"] = notes
    out["metadata"] = meta
    return out


def _unfolded(text: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return text


def text(obj: Mapping[str, Any]) -> str:
    """The cleaned object as YAML, keys sorted (both sides of a diff in the same order)."""
    return yaml.safe_dump(clean(obj), sort_keys=True, width=100)


def unified(live: Mapping[str, Any], after: Mapping[str, Any], *, ref: str) -> str:
    """A unified diff of the two cleaned objects; empty when they are the same."""
    lines = difflib.unified_diff(
        text(live).splitlines(keepends=True),
        text(after).splitlines(keepends=True),
        fromfile=f"{ref} (live)",
        tofile=f"{ref} (after the update)",
        n=3,
    )
    return "".join(lines)


def ref(obj: Mapping[str, Any]) -> str:
    return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"


def owns(obj: Mapping[str, Any], manager: str) -> bool:
    """Whether ``manager`` applied ``obj`` (server-side apply): ours to prune, not an
    operator's object that only copied our labels."""
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    return any(e.get("manager") == manager and e.get("operation") == "Apply" for e in entries)


def replicas_owner(obj: Mapping[str, Any], *, ours: str) -> str | None:
    """The field manager other than ``ours`` that owns ``spec.replicas`` (an HPA that KEDA
    made scales through the scale subresource and so takes the field over), if any."""
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        fields = (entry.get("fieldsV1") or {}).get("f:spec") or {}
        if "f:replicas" in fields and entry.get("manager") != ours:
            return str(entry.get("manager"))
    return None


def without_replicas(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` with ``spec.replicas`` left out: applied so, the field stays its owner's."""
    spec = {k: v for k, v in (obj.get("spec") or {}).items() if k != "replicas"}
    return {**obj, "spec": spec}


def plan_changes(
    before: identity.PlanSummary | None,
    after: identity.PlanSummary,
    *,
    runtime_before: str | None = None,
    runtime_after: str | None = None,
) -> list[str]:
    """What the plan changes, one line each ("replicas: 1 → 2"); nothing when it is the same."""
    was = before or identity.PlanSummary()
    rows = [
        ("model", was.model, after.model),
        ("tier", was.tier, after.tier),
        ("runtime", runtime_before, runtime_after),
        ("GPUs per replica", was.gpu, after.gpu),
        ("replicas", was.replicas, after.replicas),
        ("GPUs in all", _total(was), _total(after)),
        ("context (tokens)", was.max_model_len, after.max_model_len),
        ("engine", was.engine, after.engine),
        ("$/hour", _usd(was.usd_per_hour), _usd(after.usd_per_hour)),
    ]
    return [f"{what}: {_said(old)} → {_said(new)}" for what, old, new in rows if old != new]


def _total(summary: identity.PlanSummary) -> int | None:
    count, _, _ = (summary.gpu or "").partition("x")
    if not count.isdigit() or summary.replicas is None:
        return None
    return int(count) * summary.replicas


def _usd(value: float | None) -> str | None:
    return None if value is None else f"{value:,.2f}"


def _said(value: object) -> str:
    return "?" if value is None else str(value)
