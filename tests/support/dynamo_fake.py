"""A FAKE of the NVIDIA Dynamo operator's scaling-adapter rule, for tests only.

The Dynamo operator is not served as a Go module here, so no real one runs in the sandbox
(issue 11). This fake does the one thing of it our renders depend on: which
DynamoGraphDeploymentScalingAdapters (DGDSA) it creates for a DynamoGraphDeployment, written
from the operator's documentation and CRD descriptions, not from our renderer's code:

- ``nvidia.com/v1beta1`` (``spec.components``): "Setting it (even as an empty object,
  ``scalingAdapter: {}``) creates a DGDSA ...; omit the field to opt out."
- ``nvidia.com/v1alpha1`` (``spec.services``): "Opt in with ``scalingAdapter: {enabled:
  true}`` -- a bare ``scalingAdapter: {}`` is disabled because ``enabled`` defaults to false."
- The name: ``fmt.Sprintf("%s-%s", dgdName, strings.ToLower(componentName))``, the kind
  ``DynamoGraphDeploymentScalingAdapter`` in ``nvidia.com`` (v1beta1 is its storage version,
  v1alpha1 is served too), with the scale subresource KEDA drives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

GROUP = "nvidia.com"
GRAPH_KIND = "DynamoGraphDeployment"
ADAPTER_KIND = "DynamoGraphDeploymentScalingAdapter"
ADAPTER_VERSIONS = ("v1alpha1", "v1beta1")  # both served


def _opted_in(graph: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    version = graph["apiVersion"].split("/")[1]
    if version == "v1alpha1":
        return [
            (name, svc)
            for name, svc in (graph["spec"].get("services") or {}).items()
            if (svc.get("scalingAdapter") or {}).get("enabled", False) is True
        ]
    return [
        (c["name"], c)
        for c in graph["spec"].get("components") or []
        if "scalingAdapter" in c and c["scalingAdapter"] is not None
    ]


def adapters(manifests: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The DGDSA objects the operator would create for the graphs among ``manifests``."""
    out = []
    for graph in manifests:
        if graph.get("kind") != GRAPH_KIND or not graph["apiVersion"].startswith(f"{GROUP}/"):
            continue
        dgd = graph["metadata"]["name"]
        for component, spec in _opted_in(graph):
            out.append(
                {
                    "apiVersion": f"{GROUP}/v1beta1",
                    "kind": ADAPTER_KIND,
                    "metadata": {"name": f"{dgd}-{component.lower()}"},
                    "spec": {
                        "replicas": spec.get("replicas", 1),
                        "dgdRef": {"name": dgd, "componentName": component},
                    },
                }
            )
    return out


def resolves(target: Mapping[str, Any], existing: Iterable[Mapping[str, Any]]) -> bool:
    """Whether a ``scaleTargetRef`` names one of ``existing`` (any served adapter version)."""
    group, _, version = str(target.get("apiVersion", "")).partition("/")
    if target.get("kind") != ADAPTER_KIND or group != GROUP or version not in ADAPTER_VERSIONS:
        return False
    return any(a["metadata"]["name"] == target.get("name") for a in existing)
