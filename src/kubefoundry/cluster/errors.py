"""Kubernetes API errors, translated once into KubeFoundry's errors.

Retryable: 409 (a write raced another; not a field-manager conflict), 429 (throttled, with
the server's Retry-After), 5xx. Permanent: 403 (with the verb, resource and namespace that
were refused and how to check them), 404 (a kind the cluster does not serve: an operator is
not installed), 409 field-manager conflicts (which fields, which manager), 422 (the fields
the server rejected). Messages never include request bodies.

Failures of the connection itself are raised by ``cluster/transport.py``, which knows the
server and context: ``UnreachableError`` (retryable: refused, DNS, timeouts, dropped) and
``IdentityError`` (permanent: an untrusted certificate, credentials refused with 401).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException

from kubefoundry.core import naming
from kubefoundry.core.errors import (
    InvalidInputError,
    KubeFoundryError,
    NotFoundError,
    PermanentError,
    RetryableError,
)


class ForbiddenError(PermanentError):
    """The user may not do this; ``verb``/``resource``/``namespace`` say what was refused."""

    def __init__(self, message: str, *, verb: str, resource: str, namespace: str | None, hint: str):
        super().__init__(message, hint=hint)
        self.verb, self.resource, self.namespace = verb, resource, namespace


class UnreachableError(RetryableError):
    """The API server did not answer: nothing listening, DNS, a timeout, a dropped connection.

    Raised for the whole connection, not for one object: callers that collect per-object
    refusals (discovery, listing) must let it through.
    """


class IdentityError(PermanentError):
    """Who is who failed: the server's certificate is not trusted, or it refused our
    credentials (401). Like ``UnreachableError``, it concerns the whole connection."""


# Failures of the connection itself, never of one object or one permission.
CONNECTION_ERRORS: tuple[type[KubeFoundryError], ...] = (UnreachableError, IdentityError)


class ConflictError(PermanentError):
    """Server-side apply found fields another field manager owns."""

    def __init__(self, message: str, *, fields: list[str], managers: list[str], hint: str):
        super().__init__(message, hint=hint)
        self.fields, self.managers = fields, managers


def translate(
    exc: ApiException,
    *,
    verb: str,
    kind: str,
    name: str | None = None,
    namespace: str | None = None,
) -> KubeFoundryError:
    status = _status(exc)
    what = f"{kind}/{name}" if name else kind
    where = f" in namespace {namespace}" if namespace else ""
    message = str(status.get("message") or exc.reason or "no message")
    code = int(exc.status or 0)
    if code in (401, 403):
        return _forbidden(code, message, verb=verb, kind=kind, what=what, namespace=namespace)
    if code == 404:
        return NotFoundError(
            kind=kind,
            name=name or kind,
            hint=f"The server said: {message}. If {kind} is a custom resource, its operator "
            "(CRD) is not installed in this cluster; `kubefoundry cluster` lists what is.",
        )
    if code == 409:
        return _conflict(status, message, what=what, where=where)
    if code == 422:
        return InvalidInputError(
            f"The API server rejected {what}{where}: {_causes(status) or message}.",
            hint="This is a field the cluster's version of the API does not accept; run "
            "`kubefoundry check` on the objects, or compare the installed CRD version.",
        )
    if code == 429 or code >= 500 or code == 0:
        return RetryableError(
            f"The API server could not {verb} {what}{where} now ({code or 'no answer'}: "
            f"{message}).",
            delay_s=_retry_after(exc) or 2.0,
            hint="Retrying with back-off; check the cluster's health if it persists.",
        )
    return PermanentError(f"Could not {verb} {what}{where}: {code} {message}.")


def _forbidden(
    code: int, message: str, *, verb: str, kind: str, what: str, namespace: str | None
) -> ForbiddenError:
    verb = {"apply": "patch"}.get(verb, verb)  # server-side apply needs patch (and create)
    scope = f"-n {namespace}" if namespace else "--all-namespaces"
    plural = kind.lower() + ("es" if kind.lower().endswith("s") else "s")
    if code == 401:
        hint = "Your credentials were not accepted: refresh the kubeconfig or log in again."
    else:
        hint = (
            f"Check with `kubectl auth can-i {verb} {plural} {scope}`; ask an admin for a Role "
            f"that allows {verb} on {plural}."
        )
    return ForbiddenError(
        f"Not allowed to {verb} {what}"
        + (f" in namespace {namespace}" if namespace else "")
        + f": {message}",
        verb=verb,
        resource=plural,
        namespace=namespace,
        hint=hint,
    )


def _conflict(
    status: Mapping[str, Any], message: str, *, what: str, where: str
) -> KubeFoundryError:
    causes = (status.get("details") or {}).get("causes") or []
    owned = [c for c in causes if c.get("reason") == "FieldManagerConflict"]
    if not owned:
        return RetryableError(f"{what}{where} changed while we wrote it ({message}).", delay_s=1.0)
    fields = [str(c.get("field", "")) for c in owned]
    managers = sorted({_manager(str(c.get("message", ""))) for c in owned})
    return ConflictError(
        f"{what}{where}: {naming.counted(len(fields), 'field')} "
        f"{'is' if len(fields) == 1 else 'are'} managed by {', '.join(managers)}: "
        + ", ".join(fields[:6])
        + ("…" if len(fields) > 6 else ""),
        fields=fields,
        managers=managers,
        hint="Someone else (kubectl, another tool) owns these fields. Re-run with "
        "--force-conflicts to take them over, or change them through that tool.",
    )


def _manager(text: str) -> str:
    # 'conflict with "kubectl-edit" using apps/v1' → kubectl-edit
    return text.split('"')[1] if text.count('"') >= 2 else "another field manager"


def _causes(status: Mapping[str, Any]) -> str:
    causes = (status.get("details") or {}).get("causes") or []
    return "; ".join(f"{c.get('field', '?')}: {c.get('message', '')}" for c in causes[:8])


def _status(exc: ApiException) -> dict[str, Any]:
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(exc: ApiException) -> float | None:
    headers = exc.headers or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
