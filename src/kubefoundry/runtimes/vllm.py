"""vLLM alone: a Deployment and a Service, the baseline every other runtime builds on.

One pod per replica holds all its GPUs (tensor parallel inside the node; pipeline parallel
too when it fits one node). Replicas that need more than one node go to ``lws``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubefoundry.planning.plans import Decision, Plan
from kubefoundry.runtimes.base import Feature, Manifest, Options, Rendered, Token
from kubefoundry.runtimes.cluster_side import ClusterSide
from kubefoundry.runtimes.common import claims, kinds, labels, objects, pods, scaling, tokens

NAME = "vllm"
COMPONENT = "server"


CLUSTER_SIDE = ClusterSide(
    roots=(kinds.DEPLOYMENT_ROOT,),
    renders=(kinds.DEPLOYMENT, *objects.KINDS, *tokens.KINDS, *scaling.KINDS),
)


class VllmRuntime:
    name = NAME
    summary = "vLLM OpenAI server as a plain Deployment + Service (KEDA for autoscaling)"
    requires: tuple[str, ...] = CLUSTER_SIDE.requires
    cluster_side = CLUSTER_SIDE
    limits: Mapping[Feature, str] = {
        Feature.MULTI_NODE: "a Deployment's pod lives on one node; use lws for multi-node",
        Feature.DISAGGREGATED: "one pool of identical pods; use dynamo or llmd",
        Feature.KV_ROUTING: "a Service balances round-robin; use llmd or dynamo",
        Feature.NON_NVIDIA: "renders the CUDA image; use kserve for Intel Gaudi or Xeon",
        Feature.SCALE_TO_ZERO: (
            "KEDA reads vLLM's own metrics, which no pod exports at zero replicas, so "
            "nothing would wake the model"
        ),
    }

    def render(self, plan: Plan, options: Options) -> Rendered:
        token = tokens.resolve(plan, options)
        workload = deployment(plan, options, token=token)
        manifests: list[Manifest] = [scaling.initial(plan, workload, plan.replicas)]
        manifests.append(objects.service(plan, runtime=NAME, component=COMPONENT))
        if options.cache.enabled:
            manifests.append(objects.model_cache(plan, options, runtime=NAME))
        manifests += tokens.objects(plan, token, runtime=NAME)
        manifests += objects.route(plan, options, runtime=NAME, service_name=plan.name)
        manifests += objects.monitor(plan, options, runtime=NAME, component=COMPONENT)
        manifests += objects.disruption_budget(plan, options, runtime=NAME, component=COMPONENT)
        said: list[claims.Said] = []
        if scaling.wants_scaler(plan):
            target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": plan.name}
            manifests.append(
                scaling.scaled_object(
                    plan,
                    runtime=NAME,
                    target=target,
                    component=COMPONENT,
                    prometheus=options.prometheus,
                )
            )
            said.append(_scaling_decision(plan))
        return Rendered.of(NAME, manifests, said, token=token)


def deployment(plan: Plan, options: Options, *, token: Token | None) -> Manifest:
    spec: dict[str, Any] = {
        "containers": [pods.vllm_container(plan, options, token=token)],
        "volumes": pods.volumes(plan, options),
        "terminationGracePeriodSeconds": pods.termination_grace_s(plan),
        **pods.placement(plan),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": labels.metadata(
            plan,
            plan.name,
            runtime=NAME,
            component=COMPONENT,
            annotations=labels.root_annotations(plan),
        ),
        "spec": {
            **scaling.replicas(plan, plan.replicas),
            # A new pod needs the old one's GPUs: replace, never surge, on a full node.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
            },
            "selector": {"matchLabels": labels.selector(plan, COMPONENT)},
            "template": {
                "metadata": {"labels": labels.labels(plan, runtime=NAME, component=COMPONENT)},
                "spec": spec,
            },
        },
    }


def _scaling_decision(plan: Plan) -> claims.Said:
    s = plan.autoscaling
    said = scaling.stated(s, name=plan.name)
    decision = Decision(
        topic="autoscaling",
        choice=(
            f"KEDA ScaledObject on {s.signal} (target {said.target} per replica), "
            f"{said.low}–{said.high}, {said.cooldown}"
        ),
        reason="waiting requests rise before latency does, and vLLM exports them itself",
    )
    return claims.said(decision, *said.all)
