"""Server-side apply, dry-run first, root first, children owned by the root.

1. Every object goes to the API server as a server-side dry run (``fieldValidation=Strict``):
   the cluster's own CRD versions, CEL rules and admission decide. Any refusal stops here
   with every reason listed, and nothing has been written.
2. The root object is applied first; its UID becomes the owner of every other namespaced
   object, so deleting the root garbage-collects them. The model cache is never owned: it
   outlives the deployment. Cluster-scoped objects cannot be owned by a namespaced root.
3. Re-applying the same objects changes nothing (field manager ``kubefoundry``); a field
   another manager owns is a ``ConflictError`` unless ``force_conflicts``. A failure half-way
   is reported with what was and was not applied; applying again converges.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from kubefoundry.cluster import errors
from kubefoundry.cluster.connecting import Connection
from kubefoundry.core import identity
from kubefoundry.core.errors import (
    InvalidInputError,
    KubeFoundryError,
    PermanentError,
    RetryableError,
)

FIELD_MANAGER = "kubefoundry"
# Sets the count a scaler-owned workload is created at (identity.INITIAL_REPLICAS), and again
# only when the plan's count changes (a scale, an edit), so that FIELD_MANAGER never owns
# spec.replicas and no re-apply of the same plan resets what the scaler chose.
INITIAL_MANAGER = "kubefoundry-initial"
RETRIES = 4

Action = Literal["created", "configured", "unchanged", "validated"]


@dataclasses.dataclass(frozen=True)
class Applied:
    kind: str
    name: str
    namespace: str | None
    action: Action
    uid: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}/{self.name} {self.action}"


class PartialApplyError(PermanentError):
    """Some objects were applied and one failed; applying again converges."""

    def __init__(
        self, cause: KubeFoundryError, *, applied: Sequence[Applied], pending: Sequence[str]
    ):
        done = ", ".join(str(a) for a in applied) or "none"
        super().__init__(
            f"Applied {len(applied)} of {len(applied) + len(pending)} objects, then: "
            f"{cause.message} Applied: {done}. Not applied: {', '.join(pending)}.",
            hint=(cause.hint + " " if cause.hint else "")
            + "Fix the cause and apply again: applying is idempotent and converges.",
        )
        self.cause, self.applied, self.pending = cause, list(applied), list(pending)


def apply(
    conn: Connection,
    manifests: Sequence[Mapping[str, Any]],
    *,
    dry_run_only: bool = False,
    force_conflicts: bool = False,
    progress: Callable[[Applied], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Applied]:
    client = conn.dynamic()
    objects = [_namespaced(client, m, conn.namespace) for m in manifests]
    refusals: list[tuple[str, KubeFoundryError]] = []
    for obj in objects:
        try:
            _server_side_apply(client, obj, dry_run=True, force=force_conflicts, sleep=sleep)
        except KubeFoundryError as exc:
            refusals.append((_ref(obj), exc))
    if refusals:
        raise _refused(refusals)
    if dry_run_only:
        return [_applied(obj, "validated") for obj in objects]
    return _apply_for_real(client, objects, force=force_conflicts, progress=progress, sleep=sleep)


@dataclasses.dataclass(frozen=True)
class Preview:
    """One object as it is (``None``: not there yet) and as applying it would leave it, both
    as the API server holds them (with its defaults), managed fields and status included."""

    live: dict[str, Any] | None
    after: dict[str, Any]


def live(conn: Connection, manifests: Sequence[Mapping[str, Any]]) -> list[dict[str, Any] | None]:
    """Each object as the cluster holds it now, ``None`` where it does not exist."""
    client = conn.dynamic()
    return [_current(client, _namespaced(client, m, conn.namespace)) for m in manifests]


def preview(conn: Connection, manifests: Sequence[Mapping[str, Any]]) -> list[Preview]:
    """What applying ``manifests`` would do, object by object, in the order given: a
    server-side dry run of each, with the owner reference a real apply sets (the live root's
    UID), so the cluster's defaults, webhooks and field ownership all have their say and a
    comparison with the live object shows only what would change. Refusals are raised
    together, as ``apply`` raises them."""
    client = conn.dynamic()
    objects = [_namespaced(client, m, conn.namespace) for m in manifests]
    now = [_current(client, obj) for obj in objects]
    owner = next(
        (
            _owner_of(obj, found)
            for obj, found in zip(objects, now, strict=True)
            if identity.is_root(obj)
        ),
        None,
    )
    out: list[Preview] = []
    refusals: list[tuple[str, KubeFoundryError]] = []
    for obj, found in zip(objects, now, strict=True):
        body = _owned(obj, owner) if owner and not identity.is_root(obj) else obj
        try:
            after = _server_side_apply(client, body, dry_run=True, force=False, sleep=time.sleep)
        except KubeFoundryError as exc:
            refusals.append((_ref(obj), exc))
            continue
        out.append(Preview(live=found, after=after))
    if refusals:
        raise _refused(refusals)
    return out


def _owner_of(obj: Mapping[str, Any], found: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The owner reference fields of a root that exists (a new root has no UID yet)."""
    if found is None:
        return None
    meta = found.get("metadata") or {}
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "namespace": meta.get("namespace"),
    }


def _refused(refusals: list[tuple[str, KubeFoundryError]]) -> KubeFoundryError:
    """One error for every refusal of the dry run, keeping the type (and fix) when they agree."""
    lines = "\n  ".join(f"{ref}: {exc.message}" for ref, exc in refusals)
    message = f"The cluster refused the objects in a dry run; nothing was applied:\n  {lines}"
    first = refusals[0][1]
    if all(type(exc) is type(first) for _, exc in refusals) and first.hint:
        same = type(first).__new__(type(first))
        same.__dict__.update(first.__dict__)
        same.message, same.args = message, (message,)
        return same
    return InvalidInputError(
        message,
        hint="Check that the operators are installed in the versions we render for "
        "(`kubefoundry cluster`), or render for another runtime.",
    )


def _apply_for_real(
    client: DynamicClient,
    objects: list[dict[str, Any]],
    *,
    force: bool,
    progress: Callable[[Applied], None] | None,
    sleep: Callable[[float], None],
) -> list[Applied]:
    ordered = sorted(objects, key=lambda o: not identity.is_root(o))
    applied: list[Applied] = []
    owner: dict[str, Any] | None = None
    for index, obj in enumerate(ordered):
        body = _owned(obj, owner) if owner else obj
        try:
            before = _current(client, body)
            result = _server_side_apply(client, body, dry_run=False, force=force, sleep=sleep)
        except KubeFoundryError as exc:
            pending = [_ref(o) for o in ordered[index:]]
            if not applied:
                raise
            raise PartialApplyError(exc, applied=applied, pending=pending) from None
        meta = result.get("metadata") or {}
        if before is None or _count_changed(before, body):
            _initial_replicas(client, body, sleep=sleep, force=before is not None)
        action: Action = (
            "created"
            if before is None
            else "unchanged"
            if _content(before) == _content(result)
            else "configured"
        )
        done = _applied(body, action, uid=meta.get("uid"))
        applied.append(done)
        if progress:
            progress(done)
        if identity.is_root(obj):
            owner = {
                "apiVersion": obj["apiVersion"],
                "kind": obj["kind"],
                "name": meta.get("name"),
                "uid": meta.get("uid"),
                "namespace": meta.get("namespace"),
            }
    return applied


def _count_changed(before: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
    def count(o: Mapping[str, Any]) -> str | None:
        return ((o.get("metadata") or {}).get("annotations") or {}).get(identity.INITIAL_REPLICAS)

    return count(obj) is not None and count(obj) != count(before)


def _initial_replicas(
    client: DynamicClient,
    obj: Mapping[str, Any],
    *,
    sleep: Callable[[float], None],
    force: bool = False,
) -> None:
    """The count of a workload whose replicas a scaler owns, set at creation (without it the
    workload starts at its kind's default, one, until the scaler acts, or stays there where
    none runs) and when the plan's count changes: a user's scale is applied at once, over
    what a scaler last wrote (``force``), as ``kubectl scale`` would; the scaler then goes on
    from there within its new range."""
    meta = obj.get("metadata") or {}
    count = (meta.get("annotations") or {}).get(identity.INITIAL_REPLICAS)
    if count is None or "replicas" in (obj.get("spec") or {}) or not str(count).isdigit():
        return
    body = {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {k: meta[k] for k in ("name", "namespace") if k in meta},
        "spec": {"replicas": int(count)},
    }
    _server_side_apply(
        client, body, dry_run=False, force=force, sleep=sleep, manager=INITIAL_MANAGER
    )


def _owned(obj: dict[str, Any], owner: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    keep = (meta.get("annotations") or {}).get(identity.KEEP) == "true"
    if keep or not meta.get("namespace") or meta.get("namespace") != owner["namespace"]:
        return obj
    out = copy.deepcopy(obj)
    out["metadata"]["ownerReferences"] = [
        {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": owner["name"],
            "uid": owner["uid"],
            "controller": False,
            "blockOwnerDeletion": True,
        }
    ]
    return out


def _server_side_apply(
    client: DynamicClient,
    obj: Mapping[str, Any],
    *,
    dry_run: bool,
    force: bool,
    sleep: Callable[[float], None],
    manager: str = FIELD_MANAGER,
) -> dict[str, Any]:
    resource = _resource(client, obj)
    meta = obj["metadata"]
    delay = 0.5
    for attempt in range(RETRIES):
        try:
            result = client.server_side_apply(
                resource,
                body=dict(obj),
                name=meta["name"],
                namespace=meta.get("namespace"),
                field_manager=manager,
                force_conflicts=force or None,
                dry_run="All" if dry_run else None,
                query_params=[("fieldValidation", "Strict")],
            )
            return dict(result.to_dict())
        except ApiException as exc:
            error = errors.translate(
                exc,
                verb="apply",
                kind=obj["kind"],
                name=meta["name"],
                namespace=meta.get("namespace"),
            )
            if not isinstance(error, RetryableError) or attempt == RETRIES - 1:
                raise error from None
            sleep(max(delay, error.delay_s))
            delay *= 2
    raise AssertionError("unreachable")


def _resource(client: DynamicClient, obj: Mapping[str, Any]) -> Any:
    try:
        return client.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    except ResourceNotFoundError:
        served = _served_versions(client, obj)
        if served:
            raise InvalidInputError(
                f"This cluster serves {obj['kind']} only as {', '.join(served)}, not "
                f"{obj['apiVersion']} (what KubeFoundry renders).",
                hint="Upgrade that operator to a release that serves "
                f"{obj['apiVersion']}, or render for another runtime.",
            ) from None
        raise InvalidInputError(
            f"This cluster does not serve {obj['kind']} ({obj['apiVersion']}).",
            hint="Its operator or CRD is not installed; `kubefoundry cluster` lists what is "
            "installed.",
        ) from None


def _served_versions(client: DynamicClient, obj: Mapping[str, Any]) -> list[str]:
    group = str(obj["apiVersion"]).rpartition("/")[0]
    try:
        found = client.resources.search(kind=obj["kind"], group=group)
    except Exception:  # discovery hiccups only lose the detail, never the error
        return []
    return sorted({f"{r.group}/{r.api_version}" for r in found if r.group == group})


def _namespaced(
    client: DynamicClient, manifest: Mapping[str, Any], namespace: str
) -> dict[str, Any]:
    obj = copy.deepcopy(dict(manifest))
    resource = _resource(client, obj)
    if resource.namespaced:
        obj["metadata"].setdefault("namespace", namespace)
    return obj


_VOLATILE = ("resourceVersion", "managedFields")


def _content(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What a person would call the object: without bookkeeping fields and status."""
    out = {k: v for k, v in obj.items() if k != "status"}
    out["metadata"] = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _VOLATILE}
    return out


def _current(client: DynamicClient, obj: Mapping[str, Any]) -> dict[str, Any] | None:
    meta = obj["metadata"]
    try:
        found = client.get(
            _resource(client, obj), name=meta["name"], namespace=meta.get("namespace")
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise errors.translate(
            exc, verb="get", kind=obj["kind"], name=meta["name"], namespace=meta.get("namespace")
        ) from None
    return dict(found.to_dict())


def _ref(obj: Mapping[str, Any]) -> str:
    return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"


def _applied(obj: Mapping[str, Any], action: Action, uid: str | None = None) -> Applied:
    meta = obj["metadata"]
    return Applied(obj["kind"], meta["name"], meta.get("namespace"), action, uid)


def kinds(manifests: Iterable[Mapping[str, Any]]) -> set[tuple[str, str]]:
    return {(str(m.get("apiVersion")), str(m.get("kind"))) for m in manifests}
