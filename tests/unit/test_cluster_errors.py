"""API server Status responses → retryable or permanent errors that say how to fix them.

The bodies are Status objects as kube-apiserver writes them; the integration tests meet the
same errors from a real server.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.exceptions import ApiException

from kubefoundry.cluster import errors
from kubefoundry.core.errors import InvalidInputError, NotFoundError, RetryableError


def api_error(
    code: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> ApiException:
    exc = ApiException(status=code, reason="x", body=json.dumps(body))
    exc.headers = headers or {}
    return exc


def test_forbidden_names_the_verb_resource_and_namespace_and_how_to_check() -> None:
    body = {
        "kind": "Status",
        "status": "Failure",
        "message": 'deployments.apps is forbidden: User "dev" cannot create resource "deployments"',
        "reason": "Forbidden",
        "code": 403,
    }
    err = errors.translate(
        api_error(403, body), verb="create", kind="Deployment", name="m", namespace="team-a"
    )
    assert isinstance(err, errors.ForbiddenError)
    assert "Not allowed to create Deployment/m in namespace team-a" in err.message
    assert err.hint
    assert "kubectl auth can-i create deployments -n team-a" in err.hint


def test_field_manager_conflicts_list_fields_and_managers() -> None:
    body = {
        "kind": "Status",
        "status": "Failure",
        "message": "Apply failed with 1 conflict",
        "reason": "Conflict",
        "details": {
            "causes": [
                {
                    "reason": "FieldManagerConflict",
                    "message": 'conflict with "kubectl-edit" using apps/v1',
                    "field": ".spec.replicas",
                }
            ]
        },
        "code": 409,
    }
    err = errors.translate(api_error(409, body), verb="apply", kind="Deployment", name="m")
    assert isinstance(err, errors.ConflictError)
    assert err.managers == ["kubectl-edit"]
    assert err.fields == [".spec.replicas"]
    assert err.hint
    assert "--force-conflicts" in err.hint


def test_a_plain_write_race_is_retryable() -> None:
    body = {
        "kind": "Status",
        "reason": "Conflict",
        "message": "the object has been modified",
        "code": 409,
    }
    assert isinstance(
        errors.translate(api_error(409, body), verb="update", kind="Secret"), RetryableError
    )


def test_throttling_honours_retry_after_and_5xx_retries() -> None:
    err = errors.translate(
        api_error(429, {"message": "slow down"}, {"Retry-After": "7"}), verb="get", kind="Pod"
    )
    assert isinstance(err, RetryableError)
    assert err.delay_s == 7.0
    assert isinstance(errors.translate(api_error(503, {}), verb="get", kind="Pod"), RetryableError)


def test_invalid_objects_name_the_fields() -> None:
    body = {
        "kind": "Status",
        "reason": "Invalid",
        "message": 'LeaderWorkerSet.leaderworkerset.x-k8s.io "m" is invalid',
        "details": {
            "causes": [{"field": "spec.leaderWorkerTemplate.size", "message": "must be >= 1"}]
        },
        "code": 422,
    }
    err = errors.translate(api_error(422, body), verb="apply", kind="LeaderWorkerSet", name="m")
    assert isinstance(err, InvalidInputError)
    assert "spec.leaderWorkerTemplate.size: must be >= 1" in err.message


def test_a_kind_the_cluster_does_not_serve_says_the_operator_is_missing() -> None:
    body = {
        "kind": "Status",
        "reason": "NotFound",
        "message": "the server could not find the requested resource",
        "code": 404,
    }
    err = errors.translate(api_error(404, body), verb="apply", kind="RayService", name="m")
    assert isinstance(err, NotFoundError)
    assert err.hint
    assert "not installed" in err.hint
