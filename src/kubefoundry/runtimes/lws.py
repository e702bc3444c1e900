"""LeaderWorkerSet: vLLM replicas that span several nodes, one pod per node.

One LWS group is one replica: ``size`` is the plan's ``nodes_per_replica``; the leader and
each worker hold one node's share of the replica's GPUs. The leader runs the OpenAI server
(the only pod with traffic, probes and metrics); workers only lend their GPUs.

How the pods of a group find each other (``options.multi_node``):

- ``ray``: the leader starts a Ray head, waits until every pod of the group has joined,
  then runs ``vllm serve`` with the Ray executor; workers join the head at
  ``LWS_LEADER_ADDRESS`` once it answers.
- ``native``: every pod runs ``vllm serve`` with vLLM's own multi-node flags (``--nnodes``,
  ``--node-rank`` from ``LWS_WORKER_INDEX``, ``--master-addr``); workers run ``--headless``.

LWS sets ``LWS_LEADER_ADDRESS``, ``LWS_GROUP_SIZE`` and ``LWS_WORKER_INDEX`` in every pod,
so the group size is written once (``size``) and read back from the environment. A pod that
fails restarts its whole group: a half group cannot serve.
"""

from __future__ import annotations

import copy
import shlex
from collections.abc import Mapping
from typing import Any

from kubefoundry.planning.plans import Decision, Plan
from kubefoundry.runtimes.base import Feature, Manifest, Options, Rendered, Token
from kubefoundry.runtimes.cluster_side import ClusterSide, Controller, Kind, Operator, Root
from kubefoundry.runtimes.common import claims, labels, objects, pods, readiness, scaling, tokens
from kubefoundry.runtimes.common.claims import At, Claim

NAME = "lws"
LEADER = "leader"
WORKER = "worker"
RAY_PORT = 6379
MASTER_PORT = 29500  # vLLM's torch.distributed rendezvous on the leader (native mode)
LEADER_ADDRESS = "LWS_LEADER_ADDRESS"

LEADER_WORKER_SET = Kind("leaderworkerset.x-k8s.io", "v1", "LeaderWorkerSet", "leaderworkersets")
CLUSTER_SIDE = ClusterSide(
    roots=(Root(LEADER_WORKER_SET, readiness.Replicas("readyReplicas")),),
    renders=(LEADER_WORKER_SET, *objects.KINDS, *tokens.KINDS, *scaling.KINDS),
    operators=(
        Operator(
            "lws",
            LEADER_WORKER_SET.crd,
            # cmd/main.go's leader-elect-resource-name (leader election on by default), the
            # pod label of its Helm chart (charts/lws: app.kubernetes.io/name: lws) and the
            # webhook Service its certificate manager serves.
            Controller(
                "the LeaderWorkerSet controller",
                install="install LeaderWorkerSet (kubectl apply --server-side -f "
                "https://github.com/kubernetes-sigs/lws/releases/download/<version>/"
                "manifests.yaml) or start lws-controller-manager",
                leases=("b8b2488c.x-k8s.io",),
                pods=("app.kubernetes.io/name=lws",),
                webhook_services=("lws-webhook-service",),
            ),
        ),
    ),
)

# Run by the leader after `ray start --head`: block until the whole group has joined, so
# vLLM's placement group finds every GPU at once.
_WAIT_FOR_GROUP = """import os, time, ray
ray.init(address="auto")
want = int(os.environ["LWS_GROUP_SIZE"])
while sum(1 for n in ray.nodes() if n["Alive"]) < want:
    time.sleep(5)
"""


class LwsRuntime:
    name = NAME
    summary = "vLLM across several nodes per replica as a LeaderWorkerSet (Ray or native)"
    requires: tuple[str, ...] = CLUSTER_SIDE.requires
    cluster_side = CLUSTER_SIDE
    limits: Mapping[Feature, str] = {
        Feature.DISAGGREGATED: "one kind of group serves every phase; use dynamo or llmd",
        Feature.KV_ROUTING: "the leader Service balances round-robin; use llmd or dynamo",
        Feature.NON_NVIDIA: "renders the CUDA image; use kserve for Intel Gaudi or Xeon",
        Feature.SCALE_TO_ZERO: (
            "KEDA reads vLLM's own metrics, which no group exports at zero replicas, so "
            "nothing would wake the model"
        ),
    }

    def render(self, plan: Plan, options: Options) -> Rendered:
        token = tokens.resolve(plan, options)
        workload = leader_worker_set(plan, options, token=token)
        manifests: list[Manifest] = [scaling.initial(plan, workload, plan.replicas)]
        service = leader_service_name(plan)
        manifests.append(objects.service(plan, runtime=NAME, component=LEADER, name=service))
        if options.cache.enabled:
            manifests.append(objects.model_cache(plan, options, runtime=NAME))
        manifests += tokens.objects(plan, token, runtime=NAME)
        manifests += objects.route(plan, options, runtime=NAME, service_name=service)
        manifests += objects.monitor(plan, options, runtime=NAME, component=LEADER)
        manifests += disruption_budget(plan, options)
        said = [_mode_decision(plan, options)]
        if scaling.wants_scaler(plan):
            target = {
                "apiVersion": "leaderworkerset.x-k8s.io/v1",
                "kind": "LeaderWorkerSet",
                "name": plan.name,
            }
            manifests.append(
                scaling.scaled_object(
                    plan,
                    runtime=NAME,
                    target=target,
                    component=LEADER,
                    prometheus=options.prometheus,
                )
            )
            said.append(_scaling_decision(plan))
        return Rendered.of(NAME, manifests, said, token=token)


def leader_service_name(plan: Plan) -> str:
    """``<name>-leader``, as LWS's own vLLM example names it: the LWS controller creates a
    headless Service named after the LeaderWorkerSet for its pods' DNS (the workers reach the
    leader at ``<leader pod>.<name>``), so ours must not take that name."""
    return f"{plan.name}-leader"


def mode(plan: Plan, options: Options) -> str:
    """How a group's pods cooperate: "single" when a replica fits one node."""
    return "single" if plan.nodes_per_replica == 1 else options.multi_node


def leader_worker_set(plan: Plan, options: Options, *, token: Token | None) -> Manifest:
    leader, worker = containers(plan, options, token=token)
    return {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": labels.metadata(
            plan,
            plan.name,
            runtime=NAME,
            component="server",
            annotations=labels.root_annotations(plan),
        ),
        "spec": {
            **scaling.replicas(plan, plan.replicas),
            # A new group needs the old one's GPUs: replace one group at a time, never surge.
            "rolloutStrategy": {
                "type": "RollingUpdate",
                "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 0},
            },
            "leaderWorkerTemplate": {
                "size": plan.nodes_per_replica,
                "restartPolicy": "RecreateGroupOnPodRestart",
                "leaderTemplate": pod_template(plan, options, component=LEADER, container=leader),
                "workerTemplate": pod_template(plan, options, component=WORKER, container=worker),
            },
        },
    }


def pod_template(
    plan: Plan, options: Options, *, component: str, container: dict[str, Any]
) -> dict[str, Any]:
    return {
        "metadata": {"labels": labels.labels(plan, runtime=NAME, component=component)},
        "spec": {
            "containers": [container],
            "volumes": pods.volumes(plan, options),
            "terminationGracePeriodSeconds": pods.termination_grace_s(plan),
            **pods.placement(plan),
        },
    }


def containers(
    plan: Plan, options: Options, *, token: Token | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The leader's and the workers' container for the plan's multi-node mode.

    With one node per replica the workers' template is never used (LWS creates no worker
    pods), but the API requires one: it repeats the leader's container.
    """
    how = mode(plan, options)
    if how == "single":
        leader = pods.vllm_container(plan, options, token=token, name="vllm-leader")
        return leader, _worker(copy.deepcopy(leader))
    if how == "ray":
        return ray_leader(plan, options, token=token), ray_worker(plan, options, token=token)
    return native_leader(plan, options, token=token), native_worker(plan, options, token=token)


def _worker(container: dict[str, Any]) -> dict[str, Any]:
    """A worker serves no traffic: no ports, no HTTP probes."""
    container["name"] = "vllm-worker"
    for key in ("ports", "startupProbe", "readinessProbe", "livenessProbe"):
        container.pop(key, None)
    return container


def ray_leader(plan: Plan, options: Options, *, token: Token | None) -> dict[str, Any]:
    container = pods.vllm_container(
        plan, options, token=token, name="vllm-leader", distributed="ray"
    )
    serve = shlex.join([*container["command"], *container["args"]])
    start = shlex.join(
        [
            "ray",
            "start",
            "--head",
            f"--port={RAY_PORT}",
            f"--num-gpus={pods.gpus_per_pod(plan)}",
            "--disable-usage-stats",
        ]
    )
    wait = shlex.join(["python3", "-c", _WAIT_FOR_GROUP])
    return _shell(container, [start, wait, f"exec {serve}"])


def ray_worker(plan: Plan, options: Options, *, token: Token | None) -> dict[str, Any]:
    container = _worker(pods.vllm_container(plan, options, token=token, distributed="ray"))
    head = f'"${LEADER_ADDRESS}:{RAY_PORT}"'
    lines = [
        f"until ray health-check --address={head} >/dev/null 2>&1; do sleep 5; done",
        f"exec ray start --address={head} --num-gpus={pods.gpus_per_pod(plan)} --block",
    ]
    return _shell(container, lines)


def _shell(container: dict[str, Any], lines: list[str]) -> dict[str, Any]:
    container["command"] = ["/bin/sh", "-c"]
    container["args"] = ["set -e\n" + "\n".join(lines) + "\n"]
    return container


def _native_flags(plan: Plan, *, rank: str) -> tuple[str, ...]:
    return (
        "--nnodes",
        str(plan.nodes_per_replica),
        "--node-rank",
        rank,
        "--master-addr",
        f"$({LEADER_ADDRESS})",  # expanded by the kubelet from the env LWS sets
        "--master-port",
        str(MASTER_PORT),
    )


def native_leader(plan: Plan, options: Options, *, token: Token | None) -> dict[str, Any]:
    return pods.vllm_container(
        plan,
        options,
        token=token,
        name="vllm-leader",
        distributed="mp",
        extra_args=_native_flags(plan, rank="0"),
    )


def native_worker(plan: Plan, options: Options, *, token: Token | None) -> dict[str, Any]:
    flags = (*_native_flags(plan, rank="$(LWS_WORKER_INDEX)"), "--headless")
    container = pods.vllm_container(plan, options, token=token, distributed="mp", extra_args=flags)
    return _worker(container)


def disruption_budget(plan: Plan, options: Options) -> list[Manifest]:
    """One pod of any group down takes its whole group down, so the budget counts every pod
    of the deployment, leaders and workers: a drain takes one replica at a time."""
    out = objects.disruption_budget(plan, options, runtime=NAME, component="server")
    for pdb in out:
        pdb["spec"]["selector"] = {"matchLabels": {labels.DEPLOYMENT: plan.name}}
    return out


def _at(plan: Plan, *path: str | int) -> At:
    return At("LeaderWorkerSet", plan.name, ("spec", *path))


def _mode_decision(plan: Plan, options: Options) -> claims.Said:
    how = mode(plan, options)
    size = Claim(plan.nodes_per_replica, _at(plan, "leaderWorkerTemplate", "size"))
    gpus = Claim(
        pods.gpus_per_pod(plan),
        _at(plan, "leaderWorkerTemplate", "leaderTemplate", "spec", "containers", 0,
            "resources", "limits", plan.gpu_resource),
        f"{{}}×{plan.gpu}",
    )  # fmt: skip
    if how == "single":
        decision = Decision(
            topic="multi-node",
            choice=f"{size} pod per replica ({gpus}), plain vLLM",
            reason="the replica fits one node; the vllm runtime is simpler for this plan",
        )
        return claims.said(decision, size, gpus)
    decision = Decision(
        topic="multi-node",
        choice=(
            f"groups of {size} pods ({gpus} each), TP {plan.tensor_parallel} "
            f"× PP {plan.pipeline_parallel}, "
            + ("Ray executor" if how == "ray" else "vLLM native multi-node (--headless workers)")
        ),
        reason="tensor parallel inside a node, pipeline stages across nodes, so only "
        "activations cross the network",
    )
    return claims.said(decision, size, gpus)


def _scaling_decision(plan: Plan) -> claims.Said:
    s = plan.autoscaling
    said = scaling.stated(s, name=plan.name, unit="groups")
    decision = Decision(
        topic="autoscaling",
        choice=(
            f"KEDA ScaledObject on the LeaderWorkerSet's scale subresource, {s.signal} "
            f"(target {said.target} per group), {said.low}–{said.high}, {said.cooldown}"
        ),
        reason="a group is the unit of scale; the leader exports the replica's queue",
    )
    return claims.said(decision, *said.all)
