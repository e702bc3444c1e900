"""What the current user may do, asked of the API server (SelfSubjectAccessReview).

Before applying, every kind we are about to write is checked for ``create`` and ``patch``
in its namespace, so a user with a read-only role learns exactly which permissions are
missing before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from kubefoundry.cluster import errors
from kubefoundry.cluster.connecting import Connection


def can(
    conn: Connection, *, verb: str, resource: str, group: str = "", namespace: str | None
) -> bool:
    review = client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(
                verb=verb, resource=resource, group=group, namespace=namespace or ""
            )
        )
    )
    try:
        answer = client.AuthorizationV1Api(conn.api).create_self_subject_access_review(review)
    except ApiException as exc:
        raise errors.translate(exc, verb="create", kind="SelfSubjectAccessReview") from None
    return bool(answer.status and answer.status.allowed)


def missing_for_apply(
    conn: Connection, manifests: Iterable[Mapping[str, Any]], *, namespace: str
) -> list[str]:
    """``verb resource -n ns`` lines for every permission applying these objects needs."""
    dyn, missing, seen = conn.dynamic(), [], set()
    for m in manifests:
        try:
            res = dyn.resources.get(api_version=m["apiVersion"], kind=m["kind"])
        except ResourceNotFoundError:
            continue  # the dry run reports kinds the cluster does not serve
        where = (
            ((m.get("metadata") or {}).get("namespace") or namespace) if res.namespaced else None
        )
        for verb in ("get", "create", "patch"):
            key = (verb, res.group, res.name, where)
            if key in seen:
                continue
            seen.add(key)
            if not can(conn, verb=verb, resource=res.name, group=res.group or "", namespace=where):
                scope = f"-n {where}" if where else "(cluster-wide)"
                full = f"{res.name}.{res.group}" if res.group else res.name
                missing.append(f"{verb} {full} {scope}")
    return missing
