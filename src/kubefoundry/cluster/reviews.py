"""Who a token belongs to, and what its user may read: TokenReview and access reviews.

``kubefoundry serve --auth kubernetes`` takes each user's own Kubernetes token, asks the API
server whose it is (a TokenReview, sent with the server's own identity) and from then on acts
for that user by impersonation (``Connection.impersonating``). A token is only ever sent to
the API server in the review's body; nothing here keeps, logs or repeats it.

A user whose RBAC lets them list deployments in one namespace only cannot list them across
all namespaces; ``listable`` finds, with the user's own SelfSubjectRulesReviews, the
namespaces (and the kinds in each) they may list, so a listing can show exactly that.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubefoundry.cluster import access, errors
from kubefoundry.cluster.connecting import Connection


@dataclasses.dataclass(frozen=True)
class User:
    """A user as the API server names them: what impersonation sends back on each request."""

    name: str
    uid: str | None = None
    groups: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A TokenReview's answer: the user, or why the token was refused (never the token)."""

    user: User | None
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class Resource:
    """A kind as RBAC names it: API group and plural."""

    group: str
    plural: str


def review_token(conn: Connection, token: str) -> Verdict:
    """Whose ``token`` is, asked of the API server with ``conn``'s own identity (which needs
    ``create tokenreviews``). An expired, revoked or foreign token is a refusal with the API
    server's reason; a refused *review* (our identity may not ask) is a ``ForbiddenError``."""
    body = client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token))
    try:
        answer = client.AuthenticationV1Api(conn.api).create_token_review(body)
    except ApiException as exc:
        raise errors.translate(exc, verb="create", kind="TokenReview") from None
    status = answer.status
    if status is None or not status.authenticated or status.user is None:
        reason = (status.error if status else None) or "the API server does not know this token"
        return Verdict(None, reason=_scrub(reason, token))
    who = status.user
    return Verdict(
        User(name=str(who.username), uid=who.uid or None, groups=tuple(who.groups or ()))
    )


def whoami(conn: Connection) -> User:
    """Whom the API server takes ``conn`` for (SelfSubjectReview): shows impersonation works."""
    try:
        answer = client.AuthenticationV1Api(conn.api).create_self_subject_review(
            client.V1SelfSubjectReview()
        )
    except ApiException as exc:
        raise errors.translate(exc, verb="create", kind="SelfSubjectReview") from None
    info = answer.status.user_info if answer.status else None
    if info is None:
        return User(name="")
    return User(name=str(info.username), uid=info.uid or None, groups=tuple(info.groups or ()))


def may_list_everywhere(conn: Connection, resources: Iterable[Resource]) -> bool:
    """Whether ``conn``'s user may list every one of ``resources`` in all namespaces."""
    return all(
        access.can(conn, verb="list", resource=r.plural, group=r.group, namespace=None)
        for r in resources
    )


def listable(
    conn: Connection, *, namespaces: Iterable[str], resources: Sequence[Resource]
) -> dict[str, frozenset[Resource]]:
    """For each namespace, which of ``resources`` ``conn``'s user may list there; namespaces
    where none are left out. One SelfSubjectRulesReview per namespace (the rules it returns
    hold cluster-wide grants too); where the server says its answer is incomplete (an
    authorizer webhook), each resource is asked with a SelfSubjectAccessReview instead."""
    out: dict[str, frozenset[Resource]] = {}
    for namespace in namespaces:
        rules, incomplete = _rules(conn, namespace)
        allowed = {r for r in resources if any(allows(rule, "list", r) for rule in rules)}
        if incomplete:
            allowed |= {
                r
                for r in resources
                if r not in allowed
                and access.can(
                    conn, verb="list", resource=r.plural, group=r.group, namespace=namespace
                )
            }
        if allowed:
            out[namespace] = frozenset(allowed)
    return out


def allows(rule: Mapping[str, Any], verb: str, resource: Resource) -> bool:
    """Whether one RBAC resource rule grants ``verb`` on ``resource`` (``*`` matches all)."""

    def has(values: Any, wanted: str) -> bool:
        return "*" in (values or ()) or wanted in (values or ())

    return (
        has(rule.get("verbs"), verb)
        and has(rule.get("apiGroups"), resource.group)
        and has(rule.get("resources"), resource.plural)
        and not rule.get("resourceNames")  # a grant on named objects does not list
    )


def namespaces(conn: Connection) -> list[str]:
    """Every namespace's name (``conn`` needs ``list namespaces``)."""
    try:
        found = client.CoreV1Api(conn.api).list_namespace()
    except ApiException as exc:
        raise errors.translate(exc, verb="list", kind="Namespace") from None
    return sorted(str(n.metadata.name) for n in found.items if n.metadata)


def _rules(conn: Connection, namespace: str) -> tuple[list[dict[str, Any]], bool]:
    review = client.V1SelfSubjectRulesReview(
        spec=client.V1SelfSubjectRulesReviewSpec(namespace=namespace)
    )
    try:
        answer = client.AuthorizationV1Api(conn.api).create_self_subject_rules_review(review)
    except ApiException as exc:
        raise errors.translate(exc, verb="create", kind="SelfSubjectRulesReview") from None
    status = answer.status
    if status is None:
        return [], True
    rules = [
        {
            "verbs": r.verbs,
            "apiGroups": r.api_groups,
            "resources": r.resources,
            "resourceNames": r.resource_names,
        }
        for r in (status.resource_rules or [])
    ]
    return rules, bool(status.incomplete)


def _scrub(text: str, token: str) -> str:
    """The API server's reason, never repeating the token."""
    text = " ".join(str(text).split())[:300]
    return text.replace(token, "<token>") if token else text
