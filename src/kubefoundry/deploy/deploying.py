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
from kubefoundry.deploy import discovering, phases, rendering
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
    manifests = result.rendered.manifests
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

    facts, _ = discovering.discover(facts_conn or conn)
    model = rendering.model_entry(request.model)
    namespace = request.namespace or conn.namespace
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
    here = inspecting.roots(conn, ROOT_KINDS, namespace=namespace)
    for root in here:
        if identity.deployment_of(root) == name:
            return root
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
    )


def missing(
    name: str, *, namespace: str, here: Sequence[str], elsewhere: Sequence[str] = ()
) -> NotFoundError:
    """The error for a deployment name that is not in ``namespace`` (pure, for the tests)."""
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
    return NotFoundError(
        kind="deployment",
        name=name,
        suggestions=naming.suggest(name, here),
        hint=hint,
        remedies=remedies,
    )


def status(conn: Connection, *, name: str, namespace: str) -> phases.Progress:
    found = find(conn, name=name, namespace=namespace)
    return progress(
        found,
        inspecting.pods(conn, name=name, namespace=namespace),
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
) -> phases.Progress:
    """Where a deployment is, from its objects: the root's own word first (a failure its
    operator reports, or ready), then its pods'. ``status`` gives it objects read now, the
    watch cache (``deploy/watching``) the ones its streams hold. ``events`` (by pod name)
    and ``logs`` are asked for only when the pods' phase depends on them; ``logs`` gets the
    pods that run but are not ready, the only ones whose log lines change the answer."""
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
        return phases.Progress(
            phases.Phase.WAITING, f"waiting for {root['kind']} {name} to start its pods", 0, wanted
        )
    loading = [p for p in pods if _running(p) and not _ready(p)]
    return phases.of_pods(
        pods,
        wanted=wanted,
        events=events([p["metadata"]["name"] for p in pods]),
        logs=logs(loading) if loading else {},
    )


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
        conn, namespace=namespace, deployment=name, root_kinds=[kind]
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
