"""Autoscalers and what they scale: a target that never exists, and a count two owners set.

``scaler-target-not-created``: a KEDA ScaledObject or an HPA scales a Dynamo
DynamoGraphDeploymentScalingAdapter (DGDSA) that the operator never creates, because the
graph among the checked objects does not opt that component in (``nvidia.com/v1beta1``: no
``scalingAdapter``; ``nvidia.com/v1alpha1``: ``scalingAdapter`` without ``enabled: true``, a
bare ``{}`` being disabled there), or has no such component. The object is valid and inert:
autoscaling silently never happens.

``replicas-owned-by-scaler``: a workload sets ``spec.replicas`` (a Dynamo component its
``replicas``) while a ScaledObject or HPA in the same set scales it. The scaler writes the
field through the scale subresource; every re-apply writes it back, so the two fight (and
Dynamo's webhook refuses a changed count on an adapter-owned component).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from kubefoundry.checks.context import Context
from kubefoundry.checks.documents import Document, items, join, mapping, text
from kubefoundry.checks.findings import Finding, Severity
from kubefoundry.runtimes import dynamo

SCALER_TARGET_NOT_CREATED = "scaler-target-not-created"
REPLICAS_OWNED_BY_SCALER = "replicas-owned-by-scaler"
_SCALERS = {("keda.sh", "ScaledObject"), ("autoscaling", "HorizontalPodAutoscaler")}


def _target(doc: Document) -> Mapping[str, Any] | None:
    """A scaler's ``scaleTargetRef`` (KEDA defaults the kind to Deployment), else None."""
    if (doc.group, doc.kind) not in _SCALERS:
        return None
    ref = mapping(doc.obj, "spec", "scaleTargetRef")
    if not text(ref, "name"):
        return None
    return {**ref, "kind": text(ref, "kind") or "Deployment", "name": text(ref, "name")}


def _scalers(ctx: Context, doc: Document) -> Iterator[tuple[Document, Mapping[str, Any]]]:
    """The scalers among the checked objects in ``doc``'s namespace, with their targets."""
    for other in ctx.documents:
        target = _target(other) if other.is_object else None
        same_ns = doc.namespace is None or other.namespace in (None, doc.namespace)
        if target is not None and same_ns:
            yield other, target


def _is_graph(doc: Document) -> bool:
    return doc.group == dynamo.GRAPH.group and doc.kind == dynamo.KIND


def _components(doc: Document) -> list[tuple[str, Mapping[str, Any], str]]:
    """A graph's components: (name, spec, path), in either API version's form."""
    if doc.api_version.endswith("/v1alpha1"):
        services = mapping(doc.obj, "spec", "services")
        return [
            (str(n), s, join("spec.services", str(n)))
            for n, s in services.items()
            if isinstance(s, Mapping)
        ]
    return [
        (str(c.get("name")), c, join("spec.components", i))
        for i, c in enumerate(items(doc.obj, "spec", "components"))
        if isinstance(c, Mapping)
    ]


def target_not_created(doc: Document, ctx: Context) -> Iterator[Finding]:
    if not _is_graph(doc):
        return
    created = dynamo.adapted_components(doc.obj)
    by_adapter = {f"{doc.name}-{n.lower()}": (n, p) for n, _, p in _components(doc)}
    alpha = doc.api_version.endswith("/v1alpha1")
    opt_in = "scalingAdapter: {enabled: true}" if alpha else "scalingAdapter: {}"
    for scaler, target in _scalers(ctx, doc):
        name = str(target["name"])
        if target["kind"] != dynamo.ADAPTER_KIND or name in created:
            continue
        if name not in by_adapter and not name.startswith(f"{doc.name}-"):
            continue  # another graph's adapter
        who = f"{scaler.kind}/{scaler.name}"
        if name not in by_adapter:
            yield doc.finding(
                SCALER_TARGET_NOT_CREATED,
                Severity.ERROR,
                message=f"{who} scales {dynamo.ADAPTER_KIND} {name}, but {doc.name} has no "
                f"component whose adapter has that name (the operator names it "
                f"<graph>-<component lower-cased>): autoscaling never happens.",
                fix=f"Point scaleTargetRef.name at one of: "
                f"{', '.join(sorted(by_adapter)) or 'no component'}.",
                path="spec",
            )
            continue
        component, path = by_adapter[name]
        why = (
            "a bare {} or enabled: false is disabled in v1alpha1 (enabled defaults to false)"
            if alpha
            else "v1beta1 creates one only for a component that has scalingAdapter"
        )
        yield doc.finding(
            SCALER_TARGET_NOT_CREATED,
            Severity.ERROR,
            message=f"{who} scales {dynamo.ADAPTER_KIND} {name}, which the operator never "
            f"creates: component {component} does not opt in ({why}). The scaler has nothing "
            "to scale and autoscaling silently never happens.",
            fix=f"Set {opt_in} on component {component}.",
            path=join(path, "scalingAdapter"),
        )


def replicas_owned(doc: Document, ctx: Context) -> Iterator[Finding]:
    if not doc.is_object:
        return
    if _is_graph(doc):
        yield from _graph_replicas(doc, ctx)
        return
    if "replicas" not in mapping(doc.obj, "spec"):
        return
    for scaler, target in _scalers(ctx, doc):
        if target["kind"] == doc.kind and target["name"] == doc.name:
            yield _fight(doc, scaler, path="spec.replicas", what=f"{doc.kind}/{doc.name}")
            return


def _graph_replicas(doc: Document, ctx: Context) -> Iterator[Finding]:
    created = dynamo.adapted_components(doc.obj)
    targets = {str(t["name"]): s for s, t in _scalers(ctx, doc) if t["kind"] == dynamo.ADAPTER_KIND}
    for name, spec, path in _components(doc):
        adapter = f"{doc.name}-{name.lower()}"
        if "replicas" in spec and adapter in created and adapter in targets:
            what = f"component {name} (through {dynamo.ADAPTER_KIND} {adapter})"
            yield _fight(doc, targets[adapter], path=join(path, "replicas"), what=what)


def _fight(doc: Document, scaler: Document, *, path: str, what: str) -> Finding:
    return doc.finding(
        REPLICAS_OWNED_BY_SCALER,
        Severity.WARNING,
        message=f"{scaler.kind}/{scaler.name} scales {what}, which also sets replicas: each "
        "re-apply resets the count the scaler chose (a Dynamo adapter's webhook refuses the "
        "change outright).",
        fix="Remove replicas and let the scaler own it: the first apply starts at one and "
        "the scaler raises it to its minimum (minReplicaCount / minReplicas).",
        path=path,
    )
