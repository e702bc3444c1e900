"""Through the pod proxy, the API server's own refusals are told apart from the pod's answer."""

from __future__ import annotations

from kubernetes.client.exceptions import ApiException

from kubefoundry.cluster import proxying


def _answer(status: int, body: str) -> ApiException:
    exc = ApiException(status=status, reason="x")
    exc.body = body
    return exc


def test_a_status_object_is_the_api_servers_and_anything_else_the_pods() -> None:
    rbac = '{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403}'
    assert proxying.from_api_server(_answer(403, rbac))
    assert not proxying.from_api_server(_answer(403, "resolve_deny: denied destination"))
    assert not proxying.from_api_server(_answer(404, "404 page not found\n"))
    assert not proxying.from_api_server(_answer(401, '{"detail":"Not authenticated"}'))
    assert not proxying.from_api_server(_answer(502, ""))
