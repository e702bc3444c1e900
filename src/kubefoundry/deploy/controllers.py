"""Whether each installed operator's controller runs, from what a running one leaves behind.

A CRD says an operator was installed, not that anything acts on its objects: a root created
with no controller waits forever (``stalls.silent_operator`` catches that after the fact).
Each runtime declares what its controller leaves (``cluster_side.Controller``: leader-election
Leases, pod labels, webhook Services, GatewayClass controllers); this module reads those
declarations against the cluster's objects, as plain dicts, and says per operator:

- **running**: a Lease held and renewed within its duration (plus ``CLOCK_SKEW_S``), a ready
  pod with its labels, a ready endpoint of its webhook Service, or a GatewayClass of its
  controller accepted; or it needs no controller (``Operator.alone``);
- **crds-only**: none of those seen, and nothing that would show them was hidden: say what
  was looked for and what to install or start (a Lease that went stale is named);
- **unknown**: none seen, but RBAC hid a kind that could have shown one: say which.

Pure: the objects, what was hidden and the time now in; ``OperatorStatus`` per key out.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kubefoundry.core import timestamps
from kubefoundry.core.facts import OperatorStatus
from kubefoundry.runtimes import cluster_side

CLOCK_SKEW_S = 30.0  # the controller's clock, which writes renewTime, may run behind ours
SERVICE_NAME = "kubernetes.io/service-name"


def states(
    operators: Iterable[cluster_side.Operator],
    *,
    served: Mapping[str, Sequence[str]],
    leases: Sequence[Mapping[str, Any]] = (),
    pods: Sequence[Mapping[str, Any]] = (),
    endpoint_slices: Sequence[Mapping[str, Any]] = (),
    gateway_classes: Sequence[Mapping[str, Any]] = (),
    hidden: Mapping[str, str] | None = None,
    now: datetime.datetime,
) -> dict[str, OperatorStatus]:
    """Each operator whose CRD is served, keyed as ``ClusterFacts.installed_runtimes``."""
    out = {}
    seen = _Seen(leases, pods, endpoint_slices, gateway_classes, hidden or {}, now)
    for operator in operators:
        versions = served.get(operator.crd)
        if not versions or operator.key in out:
            continue
        out[operator.key] = _state(operator, version=versions[0], seen=seen)
    return dict(sorted(out.items()))


class _Seen:
    """What the cluster holds that a controller leaves, and which kinds RBAC hid."""

    def __init__(
        self,
        leases: Sequence[Mapping[str, Any]],
        pods: Sequence[Mapping[str, Any]],
        slices: Sequence[Mapping[str, Any]],
        classes: Sequence[Mapping[str, Any]],
        hidden: Mapping[str, str],
        now: datetime.datetime,
    ) -> None:
        self.leases, self.pods, self.slices, self.classes = leases, pods, slices, classes
        self.hidden, self.now = hidden, now


def _state(operator: cluster_side.Operator, *, version: str, seen: _Seen) -> OperatorStatus:
    controller = operator.controller
    if controller is None:
        why = operator.alone or "it needs no controller of its own"
        return OperatorStatus(state="running", version=version, evidence=f"CRD only: {why}")
    found, notes = _evidence(controller, seen)
    if found:
        return OperatorStatus(state="running", version=version, evidence=found)
    looked = _looked_for(controller)
    hidden = _hidden(controller, seen.hidden)
    if hidden:
        return OperatorStatus(
            state="unknown",
            version=version,
            evidence=f"no sign of {controller.name} in what could be read; looked for "
            f"{looked}. Hidden: {hidden}",
            fix="allow listing "
            + ", ".join(sorted(_kinds_hidden(controller, seen.hidden)))
            + " cluster-wide to see whether it runs",
        )
    evidence = f"{controller.name} is not running: no {looked}"
    if notes:
        evidence += f" ({'; '.join(notes)})"
    return OperatorStatus(
        state="crds-only", version=version, evidence=evidence, fix=controller.install
    )


def _evidence(controller: cluster_side.Controller, seen: _Seen) -> tuple[str, list[str]]:
    """What shows the controller runs (empty if nothing), and notes on what did not."""
    notes: list[str] = []
    for lease in seen.leases:
        if _name(lease) not in controller.leases:
            continue
        fresh, said = _lease(lease, seen.now)
        if fresh:
            return said, notes
        notes.append(said)
    for selector in controller.pods:
        wanted = _selector(selector)
        for pod in seen.pods:
            if wanted.items() <= _labels(pod).items():
                if _ready(pod):
                    return f"pod {_where(pod)} ({selector}) is ready", notes
                notes.append(f"pod {_where(pod)} is not ready")
    for eps in seen.slices:
        service = _labels(eps).get(SERVICE_NAME)
        if service in controller.webhook_services and _any_ready(eps):
            ns = (eps.get("metadata") or {}).get("namespace", "")
            return f"webhook Service {ns}/{service} has a ready endpoint", notes
    for gateway_class in seen.classes:
        name = str((gateway_class.get("spec") or {}).get("controllerName", ""))
        wanted_any = cluster_side.ANY_GATEWAY in controller.gateway_controllers
        if (wanted_any or name in controller.gateway_controllers) and _accepted(gateway_class):
            return f"GatewayClass {_name(gateway_class)} accepted by {name}", notes
    return "", notes


def _lease(lease: Mapping[str, Any], now: datetime.datetime) -> tuple[bool, str]:
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity")
    renewed = timestamps.parse(spec.get("renewTime") or spec.get("acquireTime"))
    duration = float(spec.get("leaseDurationSeconds") or 15)
    where = _where(lease)
    if not holder:
        return False, f"Lease {where} is held by no one (released)"
    if renewed is None:
        return False, f"Lease {where} was never renewed"
    age = (now - renewed).total_seconds()
    if age <= duration + CLOCK_SKEW_S:
        return True, f"Lease {where} held by {holder}, renewed {max(age, 0):.0f}s ago"
    return False, f"Lease {where} held by {holder} expired: last renewed {_ago(age)} ago"


def _looked_for(controller: cluster_side.Controller) -> str:
    parts = []
    if controller.leases:
        parts.append("Lease " + " or ".join(controller.leases) + " held")
    if controller.pods:
        parts.append("ready pod labelled " + " or ".join(controller.pods))
    if controller.webhook_services:
        parts.append("ready endpoint of Service " + " or ".join(controller.webhook_services))
    if controller.gateway_controllers:
        names = [n for n in controller.gateway_controllers if n != cluster_side.ANY_GATEWAY]
        parts.append("GatewayClass accepted" + (" by " + " or ".join(names) if names else ""))
    return ", no ".join(parts)


# The kind of object (as ``reading.Snapshot.refused`` names it) behind each kind of sign.
def _sources(controller: cluster_side.Controller) -> dict[str, bool]:
    return {
        "leases": bool(controller.leases),
        "pods": bool(controller.pods),
        "endpointslices": bool(controller.webhook_services),
        "gatewayclasses": bool(controller.gateway_controllers),
    }


def _kinds_hidden(controller: cluster_side.Controller, hidden: Mapping[str, str]) -> list[str]:
    return [kind for kind, used in _sources(controller).items() if used and kind in hidden]


def _hidden(controller: cluster_side.Controller, hidden: Mapping[str, str]) -> str:
    return "; ".join(f"{k}: {hidden[k]}" for k in _kinds_hidden(controller, hidden))


def _selector(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split(",") if "=" in part)


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _where(obj: Mapping[str, Any]) -> str:
    namespace = (obj.get("metadata") or {}).get("namespace")
    return f"{namespace}/{_name(obj)}" if namespace else _name(obj)


def _ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _any_ready(eps: Mapping[str, Any]) -> bool:
    # An endpoint's ready condition left unset means ready (discovery.k8s.io/v1).
    return any(
        (e.get("conditions") or {}).get("ready") is not False for e in eps.get("endpoints") or []
    )


def _accepted(gateway_class: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Accepted" and c.get("status") == "True"
        for c in (gateway_class.get("status") or {}).get("conditions") or []
    )


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"
