"""A kustomize base: the plain YAML files plus a ``kustomization.yaml`` that lists them.

Overlays (``resources: [../base]``) change replicas, images or the namespace without
touching the generated files. The base sets the namespace only when every object already
has the same one, and labels every object as ours (they already are; objects an overlay adds
to the base are labelled too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubefoundry.runtimes.base import Manifest
from kubefoundry.runtimes.common import labels
from kubefoundry.runtimes.export import yamlfiles

KUSTOMIZATION = "kustomization.yaml"


def files(manifests: Sequence[Manifest]) -> dict[str, str]:
    resources = yamlfiles.files(manifests)
    return {
        **resources,
        KUSTOMIZATION: yamlfiles.HEADER + yamlfiles.dump(kustomization(manifests, list(resources))),
    }


def kustomization(manifests: Sequence[Manifest], resources: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
    }
    namespaces = {m["metadata"].get("namespace") for m in manifests}
    if len(namespaces) == 1 and None not in namespaces:
        out["namespace"] = namespaces.pop()
    out["labels"] = [{"pairs": {labels.MANAGED_BY: labels.OURS}, "includeSelectors": False}]
    out["resources"] = resources
    return out
