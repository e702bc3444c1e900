"""Node requirements of a pod (nodeSelector, required node affinity, label selectors) and
whether a set of node labels satisfies them, the way the scheduler decides."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from kubefoundry.checks.documents import items, mapping, text


@dataclasses.dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist, Gt, Lt
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.operator == "In":
            return value is not None and value in self.values
        if self.operator == "NotIn":
            return value is None or value not in self.values
        if self.operator == "Exists":
            return value is not None
        if self.operator == "DoesNotExist":
            return value is None
        if self.operator in ("Gt", "Lt") and value is not None and self.values:
            try:
                have, want = int(value), int(self.values[0])
            except ValueError:
                return False
            return have > want if self.operator == "Gt" else have < want
        return False

    def __str__(self) -> str:
        if self.operator == "In" and len(self.values) == 1:
            return f"{self.key}={self.values[0]}"
        if self.operator in ("Exists", "DoesNotExist"):
            return f"{self.key} {self.operator}"
        return f"{self.key} {self.operator} ({', '.join(self.values)})"


Term = tuple[Requirement, ...]  # all must hold


def pod_terms(pod: Mapping[str, Any]) -> list[Term]:
    """The alternatives (any one suffices) a node must satisfy for this pod spec.

    ``nodeSelector`` joins every required node-affinity term; no requirement at all gives
    one empty term, which every node satisfies.
    """
    base = tuple(
        Requirement(str(k), "In", (str(v),)) for k, v in mapping(pod, "nodeSelector").items()
    )
    affinity = mapping(
        pod, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"
    )
    terms = [
        base + _expressions(items(term, "matchExpressions"))
        for term in items(affinity, "nodeSelectorTerms")
        if isinstance(term, Mapping)
    ]
    return terms or [base]


def label_selector_term(selector: Mapping[str, Any]) -> Term:
    """A metav1.LabelSelector (matchLabels + matchExpressions) as one term."""
    labels = tuple(
        Requirement(str(k), "In", (str(v),)) for k, v in mapping(selector, "matchLabels").items()
    )
    return labels + _expressions(items(selector, "matchExpressions"))


def satisfied(term: Sequence[Requirement], labels: Mapping[str, str]) -> bool:
    return all(r.matches(labels) for r in term)


def _expressions(raw: Sequence[Any]) -> Term:
    out = []
    for expr in raw:
        key, operator = text(expr, "key"), text(expr, "operator")
        if key and operator:
            values = tuple(str(v) for v in items(expr, "values"))
            out.append(Requirement(key, operator, values))
    return tuple(out)
