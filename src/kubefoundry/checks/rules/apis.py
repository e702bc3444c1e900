"""``unstable-api``: API versions that are alpha, deprecated or no longer served.

The CRD itself says which versions are served, deprecated and stored; the version to move
to is the storage version, else the most stable served one that is not deprecated. An
alpha version that is itself that version (KEDA's ``keda.sh/v1alpha1``, KServe's
``ServingRuntime``) is not reported: there is nothing to move to.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from kubefoundry.checks.context import Context
from kubefoundry.checks.documents import Document
from kubefoundry.checks.findings import Finding, Severity
from kubefoundry.checks.schemas import CrdVersion

UNSTABLE_API = "unstable-api"
_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def stability_key(version: str) -> tuple[int, int, int]:
    """Kubernetes' version priority: GA > beta > alpha, then by number."""
    match = _VERSION.match(version)
    if not match:
        return (-1, 0, 0)
    level = {"alpha": 0, "beta": 1, None: 2}[match[2]]
    return (level, int(match[1]), int(match[3] or 0))


def is_alpha(version: str) -> bool:
    return "alpha" in version and stability_key(version)[0] == 0


def target(versions: list[CrdVersion]) -> CrdVersion | None:
    """The version to be on: storage if served, else the most stable served, not deprecated."""
    served = [v for v in versions if v.served and not v.deprecated]
    storage = [v for v in served if v.storage]
    if storage:
        return storage[0]
    return max(served, key=lambda v: stability_key(v.version), default=None)


def unstable_api(doc: Document, ctx: Context) -> Iterator[Finding]:
    if ctx.schemas.is_core(doc.api_version, doc.kind):
        return
    crd = ctx.schemas.crd(doc.api_version, doc.kind)
    if crd is None:
        return
    best = target(ctx.schemas.crd_versions(doc.api_version, doc.kind))
    move = (
        f"Change apiVersion to {crd.group}/{best.version} and adapt the spec to that "
        f"version's schema (kubectl explain {doc.kind.lower()} --api-version "
        f"{crd.group}/{best.version})."
        if best is not None and best.version != crd.version
        else None
    )
    where = f"{crd.group}/{crd.version} {doc.kind}"
    if not crd.served:
        yield doc.finding(
            UNSTABLE_API,
            Severity.ERROR,
            message=f"{where} is no longer served by its CRD: the API server rejects it.",
            fix=move or "Upgrade the manifest to a served version of the CRD.",
            path="apiVersion",
        )
    elif crd.deprecated:
        yield doc.finding(
            UNSTABLE_API,
            Severity.WARNING,
            message=f"{where} is deprecated and will be removed in a coming release.",
            fix=move or "Move to a version the CRD does not mark deprecated.",
            path="apiVersion",
        )
    elif is_alpha(crd.version) and move and best is not None:
        stored = " (and is the version the API server stores)" if best.storage else ""
        yield doc.finding(
            UNSTABLE_API,
            Severity.WARNING,
            message=f"{where} is an alpha API: {best.version} is served{stored}, and alpha "
            "fields may change or vanish when the operator is upgraded.",
            fix=move,
            path="apiVersion",
        )
