"""Deploy, watch, list, inspect and delete: the cluster half of KubeFoundry.

``deploy`` = render (pure) → check (errors stop) → permissions (say what is missing before
writing anything) → token (a gated model's licence checked with the local token, the Secret
created or found) → server-side apply (dry run of everything first). ``watch`` follows the
root, pods and events through the API server's watch streams (and the log tails while a pod
loads) and yields a ``Progress`` each time the phase or its message changes, until ready,
failed or the time budget (the plan's startup budget) runs out.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from kubefoundry.catalog import hub, models
from kubefoundry.catalog.models import ModelEntry
from kubefoundry.cluster import access, applying, inspecting, secrets
from kubefoundry.cluster.connecting import Connection
from kubefoundry.cluster.errors import ForbiddenError
from kubefoundry.core import identity, naming
from kubefoundry.core.errors import InvalidInputError, NotFoundError, PermanentError, Remedy
from kubefoundry.core.facts import ClusterFacts
from kubefoundry.core.spec import DeploymentSpec
from kubefoundry.deploy import discovering, gateways, phases, rendering, stalls
from kubefoundry.runtimes import base, registry

# What each runtime declares (``cluster_side``), gathered by the registry: the kinds that can
# be a deployment's root (identity.ROOT), and every kind any runtime renders, roots first
# (what ``delete`` looks for by label).
ROOT_KINDS: tuple[inspecting.Kind, ...] = tuple(k.ref for k in registry.default().root_kinds())
KINDS: tuple[inspecting.Kind, ...] = tuple(k.ref for k in registry.default().kinds())


@dataclasses.dataclass(frozen=True)
class Deployed:
    result: rendering.Result
    applied: list[applying.Applied]
    namespace: str
    token_secret: str | None  # "created"/"updated"/"found" + name, for the CLI to say
    warnings: tuple[str, ...] = ()  # what could not be checked (the licence, offline)


def deploy(
    request: DeploymentSpec,
    model: ModelEntry,
    *,
    conn: Connection,
    options: base.Options,
    facts: ClusterFacts | None,
    token: str | None,
    reach: hub.Reach | None = None,
    force_conflicts: bool = False,
    progress: Callable[[applying.Applied], None] | None = None,
    on_rendered: Callable[[rendering.Result], None] | None = None,
    prices: Mapping[str, float] | None = None,
) -> Deployed:
    """``prices``: the user's own $/GPU-hour per GPU (the server's settings), used where the
    spec gives no price."""
    namespace = request.namespace or conn.namespace
    request = request.model_copy(update={"namespace": namespace})
    result = rendering.render(request, model, options=options, facts=facts, prices=prices)
    if on_rendered:
        on_rendered(result)
    errors = [f for f in rendering.check(result, facts=facts) if f.is_error]
    if errors:
        raise InvalidInputError(
            "The rendered objects have errors: "
            + "; ".join(f"{f.ref} [{f.rule}] {f.message}" for f in errors[:5]),
            hint="Render the same spec to see every finding.",
        )
    too_big = _beyond_cluster(result, facts)
    if too_big:
        raise too_big
    manifests = result.rendered.manifests
    no_gateway = gateways.missing(conn, manifests, namespace)
    if no_gateway:
        raise no_gateway
    missing = access.missing_for_apply(conn, manifests, namespace=namespace)
    if missing:
        raise ForbiddenError(
            f"You may not deploy into namespace {namespace}; missing permissions: "
            + ", ".join(missing)
            + ".",
            verb=missing[0].split()[0],
            resource=missing[0].split()[1] if len(missing[0].split()) > 1 else missing[0],
            namespace=namespace,
            hint="Ask a cluster admin for a Role with these verbs, or pick a `namespace` you "
            "may write to.",
        )
    warnings: list[str] = []
    said = _token(
        result,
        conn=conn,
        namespace=namespace,
        token=token,
        reach=reach or hub.Reach(),
        warnings=warnings,
    )
    applied = applying.apply(conn, manifests, force_conflicts=force_conflicts, progress=progress)
    return Deployed(result, applied, namespace, said, tuple(warnings))


def deploy_discovered(
    request: DeploymentSpec,
    *,
    conn: Connection,
    token: str | None,
    reach: hub.Reach | None = None,
    prices: Mapping[str, float] | None = None,
    facts_conn: Connection | None = None,
) -> Deployed:
    """The deploy the server surfaces run (the REST API, the web page): the model resolved as
    ``plan`` resolves it, the spec planned against what the cluster has (its GPU pools,
    operators, cloud), the runtimes' options read from the spec's serving section.

    ``facts_conn``: whose eyes discover the cluster (the server's own, which may read nodes
    and CRDs, where ``conn`` acts as a user who may write to one namespace only). A gated
    model whose spec names no token Secret, deployed without a token, reads the Secret the
    server's settings write (``settings.TOKEN_SECRET``) when the namespace has it."""
    from kubefoundry.deploy import settings

    model = rendering.model_entry(request.model)
    namespace = request.namespace or conn.namespace
    facts, _ = discovering.discover(facts_conn or conn, own=own(request, model, namespace))
    if (
        model.gated
        and not token
        and request.hf_token_secret is None
        and secrets.exists(conn, name=settings.TOKEN_SECRET, namespace=namespace)
    ):
        request = request.model_copy(update={"hf_token_secret": settings.TOKEN_SECRET})
    return deploy(
        request,
        model,
        conn=conn,
        options=base.Options.from_spec(request),
        facts=facts,
        token=token,
        reach=reach or hub.Reach.from_env(),
        prices=prices,
    )


def own(request: DeploymentSpec, model: ModelEntry, namespace: str) -> tuple[str, str]:
    """(namespace, name) of the deployment ``request`` makes: a re-deploy replaces its pods,
    so discovery counts their GPUs as free for it (``discovering.discover(own=...)``)."""
    return namespace, request.name or naming.dns_label(model.id)


def _beyond_cluster(
    result: rendering.Result, facts: ClusterFacts | None
) -> InvalidInputError | None:
    """The error for a plan that needs more GPUs than the cluster has in all and can get.

    Refused before anything is applied, not applied after a warning: the pods that fit would
    hold GPUs for a deployment that cannot come up, and the rest would wait for nodes that no
    autoscaler will add. A plan that fits the total but not what is free now is applied (the
    planner warns): GPUs may free up, and the watch fails it if they do not
    (``deploy/stalls``). Karpenter and node auto-provisioning make nodes of any shape, so
    their clusters have no total to exceed."""
    plan = result.plan
    if facts is None or facts.provisioner in stalls.ADDS_NODES_ANYWHERE:
        return None
    pools = [p for p in facts.gpu_pools() if p.gpu == plan.gpu]
    if not pools:
        return None  # the checks speak about a GPU the cluster lacks
    need = plan.gpu_count * plan.replicas
    if any(stalls.KARPENTER_POOL in p.labels for p in pools if facts.provisioner == "karpenter"):
        return None  # Karpenter's NodePools have limits we do not read: it may add them
    scales = facts.provisioner == "cluster-autoscaler"
    total = sum(p.gpus_per_node * (p.provisionable_nodes if scales else p.nodes) for p in pools)
    if need <= total:
        return None
    where = ", ".join(
        f"pool {p.name}: {p.nodes} × {p.gpus_per_node}"
        + (f", up to {p.max_nodes} nodes" if scales and p.max_nodes else "")
        for p in pools
    )
    fits = total // plan.gpu_count if plan.gpu_count else 0
    fix = (
        f"Deploy at most {naming.counted(fits, 'replica')} (`replicas` {fits}), add "
        f"{plan.gpu} nodes, or pick another `gpu`."
        if fits
        else f"One replica needs {plan.gpu_count} {plan.gpu}: pick a larger GPU (`gpu`), "
        "a lower `quantization`, or add nodes; `kubefoundry plan` shows what fits."
    )
    return InvalidInputError(
        f"{plan.model_id} needs {need} {plan.gpu} GPUs ({naming.counted(plan.replicas, 'replica')}"
        f" × {plan.gpu_count}); the cluster has {total} in all ({where}) and "
        + ("its autoscaler cannot add more." if scales else "nothing to add nodes to it.")
        + " Nothing was applied.",
        hint=fix,
    )


def _token(
    result: rendering.Result,
    *,
    conn: Connection,
    namespace: str,
    token: str | None,
    reach: hub.Reach,
    warnings: list[str],
) -> str | None:
    """Make sure the Secret the rendered pods read exists, under the key they read (the
    runtime's: KAITO and KServe's LLMInferenceService read ``HF_TOKEN``, the others the
    options' key), before anything else is applied."""
    plan, wanted = result.plan, result.rendered.token
    if wanted is None or wanted.source == "external-secret" or (wanted.optional and not token):
        return None  # none read, a store provides it, or optional and nothing to put in it
    if token:
        unchecked = hub.check_access(
            plan.model_id, token=token, catalog=models.ModelCatalog.load(), reach=reach
        )
        if unchecked:
            warnings.append(unchecked)
        action = secrets.ensure_token(
            conn, name=wanted.secret, namespace=namespace, token=token, key=wanted.key
        )
        return f"{action} Secret {wanted.secret} (key {wanted.key})"
    if secrets.exists(conn, name=wanted.secret, namespace=namespace):
        return f"found Secret {wanted.secret}"
    raise PermanentError(
        f"{plan.model_id} is gated and Secret {wanted.secret} does not exist in {namespace}.",
        hint="Set HF_TOKEN (KubeFoundry creates the Secret and never prints the token), or "
        f"create it yourself: kubectl -n {namespace} create secret generic {wanted.secret} "
        f"--from-file={wanted.key}=PATH.",
    )


def wanted_replicas(root: dict[str, Any]) -> int:
    """The replicas the plan summary asks for; 1 where it does not say (or says nonsense)."""
    summary = identity.summary_of(root)
    replicas = summary.replicas if summary else None
    return max(1, replicas) if replicas is not None else 1


def find(conn: Connection, *, name: str, namespace: str) -> dict[str, Any]:
    """The root object of deployment ``name``; an error naming close matches if none."""
    hidden: list[str] = []
    here = inspecting.roots(conn, ROOT_KINDS, namespace=namespace, unreadable=hidden)
    for root in here:
        if identity.deployment_of(root) == name:
            return root
    if not here:
        find_namespace(conn, namespace)
    try:  # where else it might be, if we may look; only a help for the message
        everywhere = inspecting.roots(conn, ROOT_KINDS, namespace=None, unreadable=[])
    except PermanentError:
        everywhere = []
    elsewhere = sorted(
        {
            str(r["metadata"].get("namespace"))
            for r in everywhere
            if identity.deployment_of(r) == name
        }
    )
    raise missing(
        name,
        namespace=namespace,
        here=[identity.deployment_of(r) for r in here],
        elsewhere=elsewhere,
        hidden=hidden,
    )


def find_namespace(conn: Connection, namespace: str) -> None:
    """Nothing when ``namespace`` exists (or RBAC will not say); else the error naming it."""
    if inspecting.namespace_exists(conn, namespace) is False:
        raise no_namespace(namespace, visible=inspecting.namespaces(conn))


def no_namespace(namespace: str, *, visible: Sequence[str]) -> NotFoundError:
    """The error for a namespace that does not exist: said first, since every other answer
    (no deployment of that name, none at all) follows from it (pure, for the tests)."""
    close = naming.suggest(namespace, visible)
    hint = f"Namespace {namespace} does not exist in this cluster. " + (
        f"Namespaces you may see: {', '.join(visible[:12])}"
        + (f" (and {len(visible) - 12} more)" if len(visible) > 12 else "")
        + "."
        if visible
        else "Check the name with `kubectl get namespaces`."
    )
    return NotFoundError(kind="namespace", name=namespace, suggestions=close, hint=hint)


def missing(
    name: str,
    *,
    namespace: str,
    here: Sequence[str],
    elsewhere: Sequence[str] = (),
    hidden: Sequence[str] = (),
) -> NotFoundError:
    """The error for a deployment name that is not in ``namespace`` (pure, for the tests);
    ``hidden``: the root kinds RBAC did not let us list there, where it could be."""
    remedies: tuple[Remedy, ...] = ()
    if elsewhere:
        hint = (
            f"Namespace {namespace} has none of that name, but {', '.join(elsewhere)} has: "
            f"use `namespace` {elsewhere[0]}."
        )
    elif here:
        hint = (
            f"Namespace {namespace} has {naming.counted(len(here), 'deployment')}: "
            f"{', '.join(sorted(here))}."
        )
        remedies = (Remedy.ALL_NAMESPACES,)
    else:
        hint = f"Namespace {namespace} has no KubeFoundry deployments."
        remedies = (Remedy.ALL_NAMESPACES,)
    if hidden:
        hint += (
            f" You may not list {', '.join(hidden)} in {namespace}: a deployment of "
            f"{'that kind' if len(hidden) == 1 else 'those kinds'} would not be seen."
        )
    return NotFoundError(
        kind="deployment",
        name=name,
        suggestions=naming.suggest(name, here),
        hint=hint,
        remedies=remedies,
    )


def status(
    conn: Connection, *, name: str, namespace: str, facts: ClusterFacts | None = None
) -> phases.Progress:
    """Where deployment ``name`` is now; ``facts`` (the cluster's) let it say that pods the
    scheduler cannot place will never be placed (no autoscaler)."""
    found = find(conn, name=name, namespace=namespace)
    return progress(
        found,
        inspecting.pods(conn, name=name, namespace=namespace),
        facts=facts,
        events=lambda names: inspecting.events(conn, namespace=namespace, names=names),
        logs=lambda pods: {
            p["metadata"]["name"]: inspecting.log_tail(
                conn, pod=p["metadata"]["name"], namespace=namespace
            )
            for p in pods
        },
    )


def progress(
    root: dict[str, Any],
    pods: Sequence[dict[str, Any]],
    *,
    events: Callable[[list[str]], Mapping[str, Sequence[Mapping[str, Any]]]] = lambda _: {},
    logs: Callable[[list[dict[str, Any]]], Mapping[str, Sequence[str]]] = lambda _: {},
    facts: ClusterFacts | None = None,
    now: datetime.datetime | None = None,
) -> phases.Progress:
    """Where a deployment is, from its objects: the root's own word first (a failure its
    operator reports, or ready), then its pods'. ``status`` gives it objects read now, the
    watch cache (``deploy/watching``) the ones its streams hold. ``events`` (by pod name)
    and ``logs`` are asked for only when the pods' phase depends on them; ``logs`` gets the
    pods that run but are not ready, the only ones whose log lines change the answer.

    A deployment that waiting cannot bring up fails at once (``deploy/stalls``): a root no
    operator acts on, pods the scheduler cannot place and no autoscaler will make room for
    (``facts``: the cluster's; ``now``: the time, for how long each has been so)."""
    now = now or datetime.datetime.now(datetime.UTC)
    name = identity.deployment_of(root)
    failure = phases.root_failure(root)
    if failure:
        return phases.Progress(phases.Phase.FAILED, f"{root['kind']} {name}: {failure}")
    wanted = wanted_replicas(root)
    if phases.root_ready(root):
        return phases.Progress(
            phases.Phase.READY, f"{root['kind']} {name} is ready", wanted, wanted
        )
    if not pods:
        silent = stalls.silent_operator(root, pods, now=now)
        if silent:
            return dataclasses.replace(silent, wanted=wanted)
        return phases.Progress(
            phases.Phase.WAITING, f"waiting for {root['kind']} {name} to start its pods", 0, wanted
        )
    loading = [p for p in pods if _running(p) and not _ready(p)]
    said = events([p["metadata"]["name"] for p in pods])
    found = phases.of_pods(pods, wanted=wanted, events=said, logs=logs(loading) if loading else {})
    if found.phase is phases.Phase.READY:
        # The pods are ready but the runtime has not said so (it returned above if it had):
        # ready is the root's verdict, written by its operator; the pods are progress.
        says = phases.root_says(root)
        return phases.Progress(
            phases.Phase.LOADING,
            f"pods ready; waiting for {root['kind']} {name} to report ready"
            + (f"; it says {says}" if says else ""),
            found.ready,
            found.wanted,
        )
    if found.phase is phases.Phase.SCHEDULING:
        stuck = stalls.unschedulable(root, pods, events=said, facts=facts, now=now)
        if stuck:
            return dataclasses.replace(stuck, ready=found.ready, wanted=found.wanted)
    return found


def _running(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running"


def _ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def watch(
    conn: Connection,
    *,
    name: str,
    namespace: str,
    timeout_s: float,
    poll_s: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
    facts: ClusterFacts | None = None,
) -> Iterator[phases.Progress]:
    """Each new state until ready or failed; a timeout is a failure that says where it stuck.

    Follows the watch streams of the root's kind, the deployment's pods and the namespace's
    events (``deploy/watching``): a change is seen when the API server sends it, and an idle
    deployment costs three open streams, not a round of requests every ``poll_s``. Log lines
    have no stream: while a pod loads (the phase read from its log tail), the tails are read
    again every ``poll_s``.
    """
    from kubefoundry.deploy import watching  # it builds on this module

    found = find(conn, name=name, namespace=namespace)  # a clear error before any stream
    kind = (str(found.get("apiVersion")), str(found["kind"]))
    cache = watching.DeploymentCache.connect(
        conn, namespace=namespace, deployment=name, root_kinds=[kind], facts=facts
    )
    with cache:
        yield from watching.follow(
            cache, name=name, namespace=namespace, timeout_s=timeout_s, poll_s=poll_s, clock=clock
        )


def delete(conn: Connection, *, name: str, namespace: str, delete_cache: bool = False) -> list[str]:
    found = find(conn, name=name, namespace=namespace)
    deleted = inspecting.delete(conn, KINDS, name=name, namespace=namespace)
    if delete_cache:
        deleted += _delete_cache(conn, found, namespace=namespace)
    return deleted


def _delete_cache(conn: Connection, root: dict[str, Any], *, namespace: str) -> list[str]:
    model = identity.model_of(root)
    others = [
        r
        for r in inspecting.roots(conn, ROOT_KINDS, namespace=namespace)
        if identity.model_of(r) == model and r["metadata"]["name"] != root["metadata"]["name"]
    ]
    if others or not model:
        return []  # another deployment of the model still uses the cache
    return inspecting.delete_cache(conn, model=model, namespace=namespace)
