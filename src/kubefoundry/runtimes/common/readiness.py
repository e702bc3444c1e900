"""How operators report a root object's readiness, as small readers runtimes declare with.

Each reader is a frozen dataclass called with the root object (a plain dict): it says
whether the object serves (``Reading.ready``; None when it does not say, so the pods decide)
and a failure the operator reports on the object's conditions (``Reading.failure``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kubefoundry.core import identity
from kubefoundry.runtimes.cluster_side import Readiness, Reading

_FAILED_WHEN_TRUE = ("ReplicaFailure", "Failed")
_FAILED_WHEN_FALSE = ("Ready", "Available")
_FAILURE_WORDS = ("Fail", "Error", "Invalid", "Exceeded")


def failure(root: Mapping[str, Any]) -> str | None:
    """A failure the runtime's operator reports on the root object's conditions, if any:
    ``ReplicaFailure``/``Failed`` true, or ``Ready``/``Available`` false for a reason that
    names a failure (not one still in progress)."""
    for cond in (root.get("status") or {}).get("conditions") or []:
        kind, state = str(cond.get("type", "")), cond.get("status")
        reason = str(cond.get("reason", ""))
        failed = (kind in _FAILED_WHEN_TRUE and state == "True") or (
            kind in _FAILED_WHEN_FALSE
            and state == "False"
            and any(word in reason for word in _FAILURE_WORDS)
        )
        if failed:
            return f"{kind}: {cond.get('reason', '')} {cond.get('message', '')}".strip()
    return None


@dataclasses.dataclass(frozen=True)
class Replicas:
    """Ready when ``status.<field>`` reaches ``spec.replicas`` (Deployment, LeaderWorkerSet)
    and the plan's replicas (the summary on the root): an autoscaled workload carries no
    replicas of ours, so it starts at one until KEDA's HPA raises it to the plan's floor,
    and one ready pod of a two-replica plan is not ready. Silent while it has no status."""

    field: str

    def __call__(self, root: Mapping[str, Any]) -> Reading:
        status, spec = root.get("status") or {}, root.get("spec") or {}
        if not status:
            return Reading(None, failure(root))
        summary = identity.summary_of(root)
        planned = summary.replicas if summary and summary.replicas else 0
        wanted = max(int(spec.get("replicas", 1)), planned)
        return Reading(int(status.get(self.field) or 0) >= wanted, failure(root))


@dataclasses.dataclass(frozen=True)
class Conditions:
    """The first of the named conditions the object carries: ready when it is "True"."""

    names: tuple[str, ...]

    def __call__(self, root: Mapping[str, Any]) -> Reading:
        status = root.get("status") or {}
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        for name in self.names:
            if name in conditions:
                return Reading(conditions[name] == "True", failure(root))
        return Reading(None, failure(root))


@dataclasses.dataclass(frozen=True)
class State:
    """A one-word state in ``status.<field>`` (KubeRay's ``serviceStatus``, Dynamo's
    ``state``): ready when it is one of ``ready_when``; without it, ``otherwise`` reads."""

    field: str
    ready_when: tuple[str, ...]
    otherwise: Readiness

    def __call__(self, root: Mapping[str, Any]) -> Reading:
        state = (root.get("status") or {}).get(self.field)
        if state is None:
            return self.otherwise(root)
        return Reading(state in self.ready_when, failure(root))


# A kind none of these fits: its operator's usual conditions.
GENERIC = Conditions(("Ready", "Available"))
# A root that reports no readiness of its own: the pods decide (its failures still count).
FROM_PODS = Conditions(())
