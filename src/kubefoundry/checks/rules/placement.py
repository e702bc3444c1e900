"""``selector-matches-no-node``: node requirements no node pool of the cluster satisfies.

Only with cluster facts (``--cluster FILE``): a pod whose nodeSelector or required node
affinity no pool's labels satisfy stays Pending with nothing but a scheduler event to say
why; so does a KAITO workspace whose ``labelSelector`` matches no existing node when no
provisioner creates nodes for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from kubefoundry.checks import hardware, kaito, selectors, workloads
from kubefoundry.checks.context import Context
from kubefoundry.checks.documents import Document, join, mapping
from kubefoundry.checks.findings import Finding, Severity
from kubefoundry.core.facts import ClusterFacts

SELECTOR_MATCHES_NO_NODE = "selector-matches-no-node"


def selector_matches_no_node(doc: Document, ctx: Context) -> Iterator[Finding]:
    facts = ctx.facts
    if facts is None or not facts.node_pools:
        return
    for pod in workloads.pods(doc):
        terms = selectors.pod_terms(pod.spec)
        if all(not t for t in terms) or _any_pool(facts, terms):
            continue
        yield doc.finding(
            SELECTOR_MATCHES_NO_NODE,
            Severity.ERROR,
            message=f"No node pool satisfies {_whose(pod.role)} node requirements "
            f"({_describe(terms)}): it stays Pending ('didn't match Pod's node "
            "affinity/selector').",
            fix=_fix(facts, terms),
            path=join(
                pod.path, "nodeSelector" if mapping(pod.spec, "nodeSelector") else "affinity"
            ),
        )
    if doc.kind in kaito.KINDS:
        yield from _kaito(doc, facts)


def _kaito(doc: Document, facts: ClusterFacts) -> Iterator[Finding]:
    prefix, base = kaito.base(doc)
    if doc.kind == "InferenceSet":
        prefix, base = "spec", mapping(doc.obj, "spec")
    selector = mapping(base, "resource", "labelSelector") or mapping(base, "labelSelector")
    term = selectors.label_selector_term(selector)
    if not term or _any_pool(facts, [term]):
        return
    provisioned = facts.provisioner != "none"
    yield doc.finding(
        SELECTOR_MATCHES_NO_NODE,
        Severity.INFO if provisioned else Severity.ERROR,
        message=f"No node pool carries the labelSelector labels ({_describe([term])})"
        + (
            f": KAITO's node provisioning must create them ({facts.provisioner} is installed)."
            if provisioned
            else ": with no node provisioner, the inference pods stay Pending."
        ),
        fix=_fix(facts, [term], kaito=True),
        path=join(prefix, "resource", "labelSelector")
        if doc.kind == "Workspace"
        else "spec.labelSelector",
    )


def _whose(role: str) -> str:
    return "the pod's" if role == "pod" else f"the {role} pods'"


def _any_pool(facts: ClusterFacts, terms: Sequence[selectors.Term]) -> bool:
    return any(
        selectors.satisfied(term, hardware.pool_labels(pool))
        for pool in facts.node_pools
        for term in terms
    )


def _describe(terms: Sequence[selectors.Term]) -> str:
    return " or ".join(", ".join(str(r) for r in term) for term in terms if term)


def _fix(facts: ClusterFacts, terms: Sequence[selectors.Term], *, kaito: bool = False) -> str:
    keys = hardware.unique(r.key for term in terms for r in term)
    hints = []
    for key in keys:
        values = hardware.unique(
            f"{hardware.pool_labels(p)[key]} (pool {p.name})"
            for p in facts.node_pools
            if key in hardware.pool_labels(p)
        )
        hints.append(f"{key} is {' / '.join(values)}" if values else f"no pool has a {key} label")
    found = f"In this cluster {'; '.join(hints)}."
    if kaito:
        labels = " ".join(str(r) for term in terms for r in term if r.operator == "In")
        return (
            f"Select labels the nodes you mean to use carry. {found} Or label those nodes: "
            f"kubectl label nodes NODE {labels}."
        )
    missing = [
        key for key in keys if not any(key in hardware.pool_labels(p) for p in facts.node_pools)
    ]
    steps = [f"remove {key} from the node selector (no node pool carries it)" for key in missing]
    others = [
        key
        for key in keys
        if key not in missing
        and not any(
            r.matches(hardware.pool_labels(p))
            for p in facts.node_pools
            for term in terms
            for r in term
            if r.key == key
        )
    ]
    if others:
        steps.append(f"set {', '.join(others)} to a value a pool has")
    how = "; ".join(steps) or "choose labels that one pool's nodes carry together"
    return (
        f"{how[0].upper()}{how[1:]}: select only labels the nodes you mean carry, such as "
        f"their GPU label. {found}"
    )
