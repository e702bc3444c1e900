"""One autoscaling intent (signal, target, min/max, scale to zero, cool-down) and its KEDA form.

Deployments, LeaderWorkerSets and KServe raw deployments scale with a KEDA ScaledObject on
vLLM's own Prometheus metrics. Other runtimes translate the same intent into their native
scaler in their own module (Ray Serve autoscaling_config, KAITO InferenceSet, Dynamo replicas).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kubefoundry.core import identity
from kubefoundry.planning.plans import Autoscaling, Plan
from kubefoundry.runtimes.base import Manifest
from kubefoundry.runtimes.cluster_side import Controller, Kind, Operator
from kubefoundry.runtimes.common import labels
from kubefoundry.runtimes.common.claims import At, Claim

SCALED_OBJECT = Kind("keda.sh", "v1alpha1", "ScaledObject", "scaledobjects")
KINDS = (SCALED_OBJECT,)
# cmd/operator's LeaderElectionID and the keda Helm chart's operator pod label.
KEDA = Operator(
    "keda",
    SCALED_OBJECT.crd,
    Controller(
        "the KEDA operator",
        install="install KEDA (helm install keda kedacore/keda) or start keda-operator",
        leases=("operator.keda.sh",),
        pods=("app=keda-operator",),
    ),
)


def query(plan: Plan) -> str:
    """The signal summed over the pods serving this deployment's model in its namespace (the
    ``namespace`` label the Prometheus Operator gives every target); KEDA divides it by the
    threshold, per replica."""
    where = [f'namespace="{plan.namespace}"'] if plan.namespace else []
    where.append(f'model_name="{plan.model_id}"')
    return f"sum({plan.autoscaling.signal}{{{','.join(where)}}})"


def scaled_object(
    plan: Plan,
    *,
    runtime: str,
    target: dict[str, Any],
    component: str,
    prometheus: str,
) -> Manifest:
    scaling = plan.autoscaling
    trigger: dict[str, Any] = {
        "type": "prometheus",
        "metadata": {
            "serverAddress": prometheus,
            "query": query(plan),
            "threshold": f"{scaling.target:g}",
            "activationThreshold": "0",
        },
    }
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": labels.metadata(plan, plan.name, runtime=runtime, component=component),
        "spec": {
            "scaleTargetRef": target,
            "minReplicaCount": scaling.min_replicas,
            "maxReplicaCount": scaling.max_replicas,
            "cooldownPeriod": scaling.cooldown_s,
            "pollingInterval": 15,
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {
                        "scaleDown": {
                            "stabilizationWindowSeconds": scaling.cooldown_s,
                            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                        }
                    }
                }
            },
            "triggers": [trigger],
        },
    }


def wants_scaler(plan: Plan) -> bool:
    s = plan.autoscaling
    return s.max_replicas > s.min_replicas


def replicas(plan: Plan, count: int) -> dict[str, int]:
    """A workload's ``replicas`` field, or none where a scaler of ours owns it.

    KEDA's HPA sets ``spec.replicas`` through the scale subresource; a count in the applied
    object would fight it on every re-deploy (and Dynamo's webhook refuses a changed count
    on a component its scaling adapter owns). Left out, server-side apply leaves the field to
    the scaler; ``initial`` says what to create the workload at (else its kind's default, one,
    until the HPA raises it to ``minReplicaCount``, or for good where no scaler runs).
    """
    return {} if wants_scaler(plan) else {"replicas": count}


def initial(plan: Plan, workload: Manifest, count: int) -> Manifest:
    """``workload`` with the count to create it at (``identity.INITIAL_REPLICAS``) where a
    scaler owns its replicas: the apply sets it once, on creation, under a field manager of
    its own, so no later apply of ours owns or resets the field (``cluster/applying``)."""
    if wants_scaler(plan):
        annotations = workload["metadata"].setdefault("annotations", {})
        annotations[identity.INITIAL_REPLICAS] = str(count)
    return workload


@dataclasses.dataclass(frozen=True)
class Stated:
    """What an explanation of a ScaledObject states, each value read from where KEDA reads it."""

    low: Claim
    high: Claim
    target: Claim
    cooldown: Claim

    @property
    def all(self) -> tuple[Claim, ...]:
        return (self.low, self.high, self.target, self.cooldown)


def stated(intent: Autoscaling, *, name: str, unit: str = "replicas") -> Stated:
    """The claims of ScaledObject ``name`` rendered from ``intent``: "2–6 replicas", the
    threshold and "cool-down 300s"."""

    def at(*path: str | int) -> At:
        return At("ScaledObject", name, ("spec", *path))

    return Stated(
        low=Claim(intent.min_replicas, at("minReplicaCount")),
        high=Claim(intent.max_replicas, at("maxReplicaCount"), f"{{}} {unit}"),
        target=Claim(intent.target, at("triggers", 0, "metadata", "threshold")),
        cooldown=Claim(intent.cooldown_s, at("cooldownPeriod"), "cool-down {}s"),
    )
