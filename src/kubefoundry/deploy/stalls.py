"""Deployments that will not come up by themselves, said at once instead of after the budget.

Pure, like ``phases``: it reads the root, pods and events (plain dicts), the cluster's facts
and the time now, and returns a ``phases.Progress`` only when a deployment is stuck in a way
waiting cannot fix:

- **Unschedulable for want of GPUs.** The scheduler's "Insufficient nvidia.com/gpu" is not
  "still scheduling" when nothing will add nodes: with no autoscaler (``ClusterFacts.
  provisioner`` is ``none``, or the cluster autoscaler said ``NotTriggerScaleUp``) a pod that
  has been unschedulable for ``UNSCHEDULABLE_GRACE_S`` fails, naming what it asks for and
  what the pool has (total and free). The grace covers GPUs another pod is giving back (a
  deployment just deleted, a rolling update). With an autoscaler that can add the nodes, it
  stays scheduling and says so, and how long that usually takes.
- **No operator.** A root that has no status and no pods ``SILENT_OPERATOR_S`` after it was
  created has no controller acting on it (a CRD is installed, its operator is not): failed,
  naming the operator the runtime declares (``cluster_side``).

Kept apart from ``phases`` (which reads one pod at a time, with no clock and no cluster
facts) because both verdicts need the time and the cluster's shape.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from kubefoundry.core import identity, naming, timestamps
from kubefoundry.core.errors import KubeFoundryError
from kubefoundry.core.facts import ClusterFacts, NodePool
from kubefoundry.deploy import phases
from kubefoundry.runtimes import base, registry

UNSCHEDULABLE_GRACE_S = 20.0
SILENT_OPERATOR_S = 60.0
GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu", "habana.ai/gaudi")
# No measured figure of ours: a cloud GPU node's boot, driver and device plugin, as seen in
# practice; said as an estimate wherever it is shown.
NODE_JOIN = "new GPU nodes usually join in 5-15 minutes (an estimate, not a measured figure)"
# Node auto-provisioning makes node pools of any GPU shape on demand; Karpenter adds nodes
# to its own NodePools only (nodes labelled ``karpenter.sh/nodepool``).
ADDS_NODES_ANYWHERE = ("gke-nap", "aks-nap")
KARPENTER_POOL = "karpenter.sh/nodepool"


def can_grow(facts: ClusterFacts, pool: NodePool | None, *, missing: int) -> str | None:
    """The autoscaler that can add ``missing`` GPUs to ``pool`` (or a new pool), if any."""
    if facts.provisioner in ADDS_NODES_ANYWHERE:
        return facts.provisioner
    if pool is None:
        return None
    if facts.provisioner == "karpenter" and KARPENTER_POOL in pool.labels:
        return f"karpenter (NodePool {pool.labels[KARPENTER_POOL]})"
    if facts.provisioner == "cluster-autoscaler":
        room = pool.max_nodes
        if room is None or (room - pool.nodes) * pool.gpus_per_node >= missing:
            ceiling = f"up to {room} nodes" if room is not None else "its maximum not known"
            return f"the cluster autoscaler (pool {pool.name}: {ceiling})"
    return None


def unschedulable(
    root: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    *,
    events: Mapping[str, Sequence[Mapping[str, Any]]],
    facts: ClusterFacts | None,
    now: datetime.datetime,
) -> phases.Progress | None:
    """FAILED (or scheduling, with an autoscaler at work) for pods the scheduler cannot place
    for want of GPUs; None when no pod is in that state or the facts cannot tell."""
    stuck = [p for p in pods if _short_of_gpus(p)]
    if not stuck:
        return None
    first = stuck[0]
    resource, each = gpus_asked(first)
    missing = each * len(stuck)
    said = [e for p in stuck for e in events.get(_name(p), ())]
    reasons = {str(e.get("reason")) for e in said}
    pool = _pool(first, root, facts)
    scaler = _scaler(facts, pool, missing=missing, reasons=reasons)
    waiting = f"{naming.counted(len(stuck), 'pod')} of {len(pods)} cannot be scheduled"
    if scaler:
        return phases.Progress(
            phases.Phase.SCHEDULING,
            f"{waiting}: {scaler} is to add nodes with {missing} more {resource}; {NODE_JOIN}",
        )
    if facts is None and "NotTriggerScaleUp" not in reasons:
        return None  # whether anything adds nodes is unknown: keep waiting, as before
    since = _age(_unschedulable_since(first), now)
    have = _have(pool, facts, resource)
    fix = "free GPUs, or deploy with fewer replicas or GPUs (`kubefoundry plan` shows what fits)"
    text = (
        f"{waiting}: each asks for {each} {resource} ({missing} in all); {have}, and nothing "
        f"will add nodes ({_why_no_scaler(facts, reasons)}). To fix: {fix}."
    )
    if since is not None and since < UNSCHEDULABLE_GRACE_S:
        return phases.Progress(  # the same words each time: one line in a log, not one a poll
            phases.Phase.SCHEDULING,
            f"{text} Failing unless GPUs free up within {UNSCHEDULABLE_GRACE_S:.0f}s.",
        )
    return phases.Progress(phases.Phase.FAILED, text)


def _operators_of(kind: str, runtime: base.Runtime) -> tuple[str, ...]:
    """The operators that act on a root of ``kind``: the one whose CRD is that kind's where
    the runtime has several (KServe: the manager for an InferenceService, its
    LLMInferenceService controller for those), else all the runtime needs."""
    side = runtime.cluster_side
    crds = {r.kind.crd for r in side.roots if r.kind.kind == kind}
    return tuple(o.key for o in side.operators if o.crd in crds) or runtime.requires


def silent_operator(
    root: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    *,
    now: datetime.datetime,
    runtimes: registry.Registry | None = None,
) -> phases.Progress | None:
    """FAILED when nothing has acted on the root (no status, no pods) for
    ``SILENT_OPERATOR_S`` since it was created; None otherwise."""
    if pods or root.get("status"):
        return None
    age = _age(timestamps.parse((root.get("metadata") or {}).get("creationTimestamp")), now)
    if age is None or age < SILENT_OPERATOR_S:
        return None
    kind, name = root.get("kind", "?"), identity.deployment_of(root)
    runtime = identity.runtime_of(root)
    operators: tuple[str, ...] = ()
    if runtime:
        try:
            operators = _operators_of(kind, (runtimes or registry.default()).get(runtime))
        except KubeFoundryError:  # an unknown runtime label: name the kind's controller
            operators = ()
    who = (
        f"{runtime}'s controller is not running (install the {' and '.join(operators)} "
        f"operator{'s' if len(operators) > 1 else ''}: its CRDs alone do nothing)"
        if operators
        else f"the controller of {kind} is not running"
    )
    return phases.Progress(
        phases.Phase.FAILED,
        f"{kind} {name} has had no status and no pods for {age:.0f}s: {who}. To fix: install "
        "it, or deploy with another --runtime (`kubefoundry cluster` lists what runs).",
    )


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _scheduled_condition(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "PodScheduled":
            return dict(c)
    return {}


def _short_of_gpus(pod: Mapping[str, Any]) -> bool:
    cond = _scheduled_condition(pod)
    if cond.get("status") == "True" or cond.get("reason") != "Unschedulable":
        return False
    message = str(cond.get("message") or "")
    return any(f"Insufficient {r}" in message for r in GPU_RESOURCES)


def gpus_asked(pod: Mapping[str, Any]) -> tuple[str, int]:
    """The accelerator resource a pod's containers ask for, and how many in all."""
    total: dict[str, int] = {}
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        asked = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        for resource in GPU_RESOURCES:
            if resource in asked:
                total[resource] = total.get(resource, 0) + int(str(asked[resource]))
    resource = next(iter(total), GPU_RESOURCES[0])
    return resource, total.get(resource, 0)


def _pool(
    pod: Mapping[str, Any], root: Mapping[str, Any], facts: ClusterFacts | None
) -> NodePool | None:
    """The GPU pool the pod is meant for: the one whose labels its node selector names,
    else the one with the plan's GPU."""
    if facts is None:
        return None
    selector = dict((pod.get("spec") or {}).get("nodeSelector") or {})
    pools = facts.gpu_pools()
    if selector:
        matching = [p for p in pools if selector.items() <= p.labels.items()]
        if len(matching) == 1:
            return matching[0]
    summary = identity.summary_of(dict(root))
    gpu = (summary.gpu or "").split("x", 1)[-1] if summary else ""
    return next((p for p in pools if p.gpu == gpu), None)


def _scaler(
    facts: ClusterFacts | None, pool: NodePool | None, *, missing: int, reasons: set[str]
) -> str | None:
    """The autoscaler that can add the missing GPUs, if one can."""
    if "TriggeredScaleUp" in reasons and "NotTriggerScaleUp" not in reasons:
        return "the cluster autoscaler (it triggered a scale-up)"
    if facts is None or "NotTriggerScaleUp" in reasons:
        return None
    return can_grow(facts, pool, missing=missing)


def _why_no_scaler(facts: ClusterFacts | None, reasons: set[str]) -> str:
    if "NotTriggerScaleUp" in reasons:
        return "the cluster autoscaler said it will not scale up for it"
    if facts is not None and facts.provisioner == "cluster-autoscaler":
        return "the cluster autoscaler's pool is at its maximum"
    if facts is not None and facts.provisioner == "karpenter":
        return "Karpenter manages other node pools, not this one"
    return "no autoscaler found"


def _have(pool: NodePool | None, facts: ClusterFacts | None, resource: str) -> str:
    if pool is not None:
        free = "" if pool.free_gpus is None else f", {pool.free_gpus} free when discovered"
        return (
            f"pool {pool.name} has {pool.total_gpus} {pool.gpu} in all ({pool.nodes} nodes × "
            f"{pool.gpus_per_node}){free}"
        )
    if facts is not None:
        total = sum(p.total_gpus for p in facts.gpu_pools())
        return f"no pool matches its node selector (the cluster has {total} GPUs in all)"
    return f"no node has that many {resource} free"


def _unschedulable_since(pod: Mapping[str, Any]) -> datetime.datetime | None:
    cond = _scheduled_condition(pod)
    return timestamps.parse(cond.get("lastTransitionTime")) or timestamps.parse(
        (pod.get("metadata") or {}).get("creationTimestamp")
    )


def _age(then: datetime.datetime | None, now: datetime.datetime) -> float | None:
    return None if then is None else (now - then).total_seconds()
