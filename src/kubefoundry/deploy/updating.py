"""Update a running deployment: merge the changes onto its spec, show the diff, then apply.

``plan_update`` reads the spec the root carries (``identity.SPEC``), merges the changes onto
it (a JSON merge patch: a value replaces, ``null`` returns a field to its default, nested
sections merge), validates the result as a ``DeploymentSpec`` (errors name the field and the
value), then plans and renders it the way a deploy does (``deploy/rendering``, against the
cluster's facts) and checks it (errors stop). Each object is compared with the live one
through a server-side dry run (``cluster/applying.preview``): objects added, changed (a
unified diff of what a person would call the object), and removed (ours, labelled with the
deployment, no longer rendered), plus the plan's changes in words. Nothing is written.

``apply_update`` applies exactly that: server-side apply as a deploy does, then the removed
objects are deleted. A scale is ``changes={"replicas": N}``. Where an autoscaler (an HPA that
KEDA made) has taken over a workload's ``spec.replicas``, the update leaves that field to it
rather than fight it, and says so: the replica count of an autoscaled plan is the scaler's
floor, not the running count.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kubefoundry.cluster import applying, inspecting, secrets
from kubefoundry.cluster.connecting import Connection
from kubefoundry.core import identity
from kubefoundry.core.errors import InvalidInputError
from kubefoundry.core.facts import ClusterFacts
from kubefoundry.core.spec import DeploymentSpec, Problem, SpecError, parse
from kubefoundry.deploy import deploying, diffing, discovering, rendering
from kubefoundry.runtimes import base


@dataclasses.dataclass(frozen=True)
class ObjectDiff:
    kind: str
    name: str
    diff: str  # unified diff; for an added object, its YAML

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "diff": self.diff}


@dataclasses.dataclass(frozen=True)
class Update:
    """What an update would do; ``apply_update`` does exactly this."""

    name: str
    namespace: str
    spec_before: DeploymentSpec
    spec_after: DeploymentSpec
    plan_before: identity.PlanSummary | None
    plan_after: identity.PlanSummary
    result: rendering.Result
    manifests: tuple[dict[str, Any], ...]  # what apply sends (fields an autoscaler owns left out)
    added: tuple[ObjectDiff, ...]
    changed: tuple[ObjectDiff, ...]
    unchanged: tuple[str, ...]
    removed: tuple[dict[str, Any], ...]  # live objects to delete
    changes: tuple[str, ...]  # the plan's changes in words
    notes: tuple[str, ...]

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "spec_before": _spec_dict(self.spec_before),
            "spec_after": _spec_dict(self.spec_after),
            "plan_before": dataclasses.asdict(self.plan_before) if self.plan_before else None,
            "plan_after": dataclasses.asdict(self.plan_after),
            "changes": list(self.changes),
            "notes": list(self.notes),
            "diff": {
                "added": [d.to_dict() for d in self.added],
                "changed": [d.to_dict() for d in self.changed],
                "removed": [diffing.ref(o) for o in self.removed],
                "unchanged": list(self.unchanged),
            },
        }


@dataclasses.dataclass(frozen=True)
class Applied:
    applied: list[applying.Applied]
    deleted: list[str]


def merge(
    spec: DeploymentSpec, changes: Mapping[str, Any], *, name: str, namespace: str
) -> DeploymentSpec:
    """``changes`` merged onto ``spec`` and validated; the deployment keeps its name and
    namespace (pinned in the result, so a change of model does not change the name)."""
    for field, kept in (("name", name), ("namespace", namespace)):
        given = changes.get(field)
        if given is not None and given != kept:
            raise SpecError(
                [
                    Problem(
                        field=field,
                        value=given,
                        message=f"an update keeps the deployment's {field} ({kept}); deploy a "
                        f"new one with this {field} and delete this one instead",
                    )
                ],
                where="update",
            )
    base_data = spec.model_dump(mode="json", exclude_defaults=True)
    merged = _merged(base_data, dict(changes))
    merged.update(name=name, namespace=namespace)
    return parse(merged, where="update")


def _merged(base_data: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """JSON merge patch (RFC 7386): ``None`` removes a key, mappings merge, the rest replaces."""
    out = dict(base_data)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merged(dict(out[key]), value)
        elif isinstance(value, Mapping):
            out[key] = _merged({}, value)
        else:
            out[key] = value
    return out


def stored_spec(root: Mapping[str, Any], *, name: str, namespace: str) -> DeploymentSpec:
    """The spec the root was made from, or an error saying how to give it one."""
    found = identity.spec_of(root)
    if found is None:
        raise InvalidInputError(
            f"Deployment {name} in namespace {namespace} carries no readable spec (the "
            f"{identity.SPEC} annotation on its {root.get('kind')}): it was made by an older "
            "KubeFoundry, or the annotation was edited, so there is nothing to merge the "
            "changes onto.",
            hint="Deploy it again from a spec file with the same name, once: "
            f"`kubefoundry deploy -f SPEC.yaml --name {name} -n {namespace}`; later updates "
            "then work.",
        )
    return found


def plan_update(
    conn: Connection,
    *,
    name: str,
    namespace: str,
    changes: Mapping[str, Any],
    prices: Mapping[str, float] | None = None,
    facts: ClusterFacts | None = None,
) -> Update:
    """Merge, re-plan, render, check and compare with the cluster; nothing is written.

    ``facts``: the cluster's (discovered when not given, as a deploy discovers them);
    ``prices``: the user's own $/GPU-hour per GPU (the server's settings).
    """
    here = dataclasses.replace(conn, namespace=namespace)
    root = deploying.find(here, name=name, namespace=namespace)
    before = stored_spec(root, name=name, namespace=namespace)
    after = merge(before, changes, name=name, namespace=namespace)
    if facts is None:
        facts, _ = discovering.discover(here, own=(namespace, name))
    result = rendering.render(
        after,
        rendering.model_entry(after.model),
        options=base.Options.from_spec(after),
        facts=facts,
        prices=prices,
    )
    errors = [f for f in rendering.check(result, facts=facts) if f.is_error]
    if errors:
        raise InvalidInputError(
            "The updated objects have errors: "
            + "; ".join(f"{f.ref} [{f.rule}] {f.message}" for f in errors[:5]),
            hint="Change the update, or render the merged spec with `kubefoundry render -f` "
            "to see every finding.",
        )
    return _compare(here, root=root, before=before, after=after, result=result, changes=changes)


def _compare(
    conn: Connection,
    *,
    root: Mapping[str, Any],
    before: DeploymentSpec,
    after: DeploymentSpec,
    result: rendering.Result,
    changes: Mapping[str, Any],
) -> Update:
    name, namespace = identity.deployment_of(root), conn.namespace
    rendered = list(result.rendered.manifests)
    notes: list[str] = []
    bodies = _yielding(rendered, applying.live(conn, rendered), notes)
    previews = applying.preview(conn, bodies)
    added, changed, unchanged = [], [], []
    for body, seen in zip(bodies, previews, strict=True):
        ref = diffing.ref(body)
        if seen.live is None:
            added.append(ObjectDiff(body["kind"], body["metadata"]["name"], diffing.text(body)))
            continue
        text = diffing.unified(seen.live, seen.after, ref=ref)
        if text:
            changed.append(ObjectDiff(body["kind"], body["metadata"]["name"], text))
        else:
            unchanged.append(ref)
    keep = {(m["kind"], m["metadata"]["name"]) for m in rendered}
    removed = [
        o
        for o in inspecting.labelled(conn, deploying.KINDS, name=name, namespace=namespace)
        if (o["kind"], o["metadata"]["name"]) not in keep
        and diffing.owns(o, applying.FIELD_MANAGER)
    ]
    plan_after = _summary(rendered)
    notes += _scaling_notes(result, changes) + _token_notes(conn, result)
    return Update(
        name=name,
        namespace=namespace,
        spec_before=before,
        spec_after=after,
        plan_before=identity.summary_of(root),
        plan_after=plan_after,
        result=result,
        manifests=tuple(bodies),
        added=tuple(added),
        changed=tuple(changed),
        unchanged=tuple(unchanged),
        removed=tuple(removed),
        changes=tuple(
            diffing.plan_changes(
                identity.summary_of(root),
                plan_after,
                runtime_before=identity.runtime_of(root),
                runtime_after=result.rendered.runtime,
            )
        ),
        notes=tuple(notes),
    )


def _yielding(
    rendered: Sequence[dict[str, Any]], live: Sequence[dict[str, Any] | None], notes: list[str]
) -> list[dict[str, Any]]:
    """The objects to apply: where another manager (an autoscaler) owns ``spec.replicas``,
    without it, so the update neither fights the scaler nor conflicts with it."""
    out = []
    for body, found in zip(rendered, live, strict=True):
        owner = diffing.replicas_owner(found, ours=applying.FIELD_MANAGER) if found else None
        if owner and "replicas" in (body.get("spec") or {}):
            notes.append(
                f"{diffing.ref(body)}: {owner} sets its replica count (an autoscaler); the "
                "update leaves spec.replicas to it."
            )
            body = diffing.without_replicas(body)
        out.append(body)
    return out


def _summary(rendered: Sequence[Mapping[str, Any]]) -> identity.PlanSummary:
    for obj in rendered:
        if identity.is_root(obj):
            return identity.summary_of(obj) or identity.PlanSummary()
    return identity.PlanSummary()


def _scaling_notes(result: rendering.Result, changes: Mapping[str, Any]) -> list[str]:
    scaling = result.plan.autoscaling
    if "replicas" not in changes or scaling.max_replicas <= scaling.min_replicas:
        return []
    return [
        f"{result.plan.name} is autoscaled ({scaling.min_replicas} to {scaling.max_replicas} "
        f"replicas): the scaler sets the running count; replicas {result.plan.replicas} is "
        "what the plan sizes the scaler's range from and starts with, not a fixed count."
    ]


def _token_notes(conn: Connection, result: rendering.Result) -> list[str]:
    wanted = result.rendered.token
    if wanted is None or wanted.optional or wanted.source == "external-secret":
        return []
    if secrets.exists(conn, name=wanted.secret, namespace=conn.namespace):
        return []
    return [
        f"The pods read the Hugging Face token from Secret {wanted.secret}, which does not "
        f"exist in {conn.namespace}: they will not start until it does (PUT "
        f"/api/v1/settings/hf-token with secret {wanted.secret}, or kubectl create secret)."
    ]


def apply_update(
    conn: Connection,
    update: Update,
    *,
    progress: Callable[[applying.Applied], None] | None = None,
) -> Applied:
    """Apply what ``plan_update`` showed, then delete the objects it no longer renders."""
    here = dataclasses.replace(conn, namespace=update.namespace)
    done = applying.apply(here, update.manifests, progress=progress)
    return Applied(applied=done, deleted=inspecting.delete_objects(here, update.removed))


def _spec_dict(spec: DeploymentSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude_defaults=True)
