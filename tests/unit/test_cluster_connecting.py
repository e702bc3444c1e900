"""Getting to a cluster: every kubeconfig and connection mistake is a clear error.

Kubeconfig mistakes are files in ``tmp_path``. Connection failures are real sockets on
127.0.0.1 (``tests/support/endpoints.py``): nothing here reaches the network.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from tests.support import endpoints

from kubefoundry.cluster import connecting, errors, reading, transport
from kubefoundry.core.errors import InvalidInputError, NotFoundError


@pytest.fixture(autouse=True)
def _closed_after_the_test(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every connection a test opens is closed after it (no socket left to the GC)."""
    opened: list[connecting.Connection] = []
    real = connecting.connect

    def tracked(target: connecting.Target) -> connecting.Connection:
        conn = real(target)
        opened.append(conn)
        return conn

    monkeypatch.setattr(connecting, "connect", tracked)
    yield
    for conn in opened:
        conn.close()


def connect(path: Path, **target: Any) -> connecting.Connection:
    return connecting.connect(connecting.Target(kubeconfig=path, **target))


def version(conn: connecting.Connection) -> Any:
    return client.VersionApi(conn.api).get_code()


# ----------------------------------------------------------------------------- kubeconfig


def test_connect_reads_the_context_and_its_namespace(tmp_path: Path) -> None:
    path = endpoints.kubeconfig(tmp_path / "kc", "https://127.0.0.1:6443")
    conn = connect(path)
    assert (conn.context, conn.server, conn.namespace) == (
        "kf-test",
        "https://127.0.0.1:6443",
        "team-a",
    )
    assert connect(path, namespace="other").namespace == "other"
    assert conn.endpoint.kubeconfig == path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("clusters: [\n", r"is not valid YAML \(line"),
        ("- a\n- b\n", "is not a kubeconfig"),
        ("", "is not a kubeconfig"),
        ("apiVersion: v1\nkind: Config\n", "has no contexts"),
        (
            "contexts: [{name: a, context: {cluster: c, user: u}}]\n",
            "has no current context",
        ),
    ],
    ids=["not-yaml", "a-list", "empty", "no-contexts", "no-current-context"],
)
def test_a_kubeconfig_that_is_not_one_says_so(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(content)
    with pytest.raises(InvalidInputError, match=message) as caught:
        connect(path)
    assert str(path) in caught.value.message
    assert caught.value.hint


def test_a_missing_kubeconfig_says_where_it_looked_and_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InvalidInputError, match=r"No kubeconfig at .*nope \(--kubeconfig\)"):
        connect(tmp_path / "nope")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "from-env") + os.pathsep + "/other")
    with pytest.raises(InvalidInputError, match=r"from-env \(KUBECONFIG\)") as caught:
        connecting.connect(connecting.Target())
    assert "sandbox up" in (caught.value.hint or "")


def test_a_kubeconfig_that_cannot_be_read_says_so(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="Cannot read kubeconfig"):
        connect(tmp_path)  # a directory


def test_an_unknown_context_suggests_close_matches(tmp_path: Path) -> None:
    path = endpoints.kubeconfig(tmp_path / "kc", "https://127.0.0.1:6443")
    with pytest.raises(NotFoundError) as caught:
        connect(path, context="kf-tset")
    assert caught.value.message == "Unknown kubeconfig context 'kf-tset'. Did you mean: kf-test?"
    assert caught.value.hint == f"{path} has 1 context: kf-test. Pass --context with one of them."


def test_a_current_context_that_names_nothing_says_so(tmp_path: Path) -> None:
    path = endpoints.kubeconfig(tmp_path / "kc", "https://127.0.0.1:6443")
    path.write_text(path.read_text().replace("current-context: kf-test", "current-context: gone"))
    with pytest.raises(NotFoundError, match="'gone'") as caught:
        connect(path)
    assert "The current-context of" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("cluster", "message"),
    [
        ({"certificate-authority": "/nonexistent/ca.crt"}, "File does not exist"),
    ],
)
def test_a_context_whose_files_are_missing_names_them(
    tmp_path: Path, cluster: dict[str, str], message: str
) -> None:
    path = endpoints.kubeconfig(tmp_path / "kc", "https://127.0.0.1:6443", cluster=cluster)
    with pytest.raises(InvalidInputError, match=message) as caught:
        connect(path)
    assert "Cannot use context 'kf-test'" in caught.value.message


def test_a_context_without_its_cluster_entry_is_named(tmp_path: Path) -> None:
    path = endpoints.kubeconfig(tmp_path / "kc", "https://127.0.0.1:6443")
    path.write_text(path.read_text().replace("cluster: c", "cluster: elsewhere"))
    with pytest.raises(InvalidInputError, match="Cannot use context 'kf-test'"):
        connect(path)


# ----------------------------------------------------------------------------- the wire


def test_a_closed_port_is_unreachable_at_once_naming_server_and_context(tmp_path: Path) -> None:
    server = f"https://127.0.0.1:{endpoints.closed_port()}"
    conn = connect(endpoints.kubeconfig(tmp_path / "kc", server))
    with pytest.raises(errors.UnreachableError) as caught:
        version(conn)
    err = caught.value
    assert err.message == (
        f"Cannot reach the Kubernetes API server {server} (context kf-test): connection refused."
    )
    assert "Nothing is listening there" in (err.hint or "")
    assert "cluster-info" in (err.hint or "")
    assert err.__cause__ is None
    assert err.__suppress_context__


def test_the_dynamic_client_and_discovery_fail_the_same_way(tmp_path: Path) -> None:
    conn = connect(
        endpoints.kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{endpoints.closed_port()}")
    )
    with pytest.raises(errors.UnreachableError, match="connection refused"):
        conn.dynamic()
    with pytest.raises(errors.UnreachableError, match="connection refused"):
        reading.read(conn)  # not a list of per-resource refusals


def test_a_dropped_connection_is_retried_once_then_reported(tmp_path: Path) -> None:
    with endpoints.Listener(endpoints.hang_up) as listener:
        conn = connect(endpoints.kubeconfig(tmp_path / "kc", f"http://127.0.0.1:{listener.port}"))
        with pytest.raises(errors.UnreachableError) as caught:
            version(conn)
    assert "the connection was closed before an answer" in caught.value.message
    assert listener.accepted == 2  # one attempt and one retry, no more


def test_a_silent_server_times_out_after_one_retry(tmp_path: Path) -> None:
    with endpoints.Listener(endpoints.say_nothing) as listener:
        path = endpoints.kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{listener.port}")
        conn = connect(path, connect_timeout_s=0.3)
        with pytest.raises(errors.UnreachableError) as caught:
            version(conn)
    assert "accepted the connection but sent no answer in time" in caught.value.message
    assert listener.accepted == 2


def test_a_server_hanging_up_during_the_handshake_is_no_certificate_problem(
    tmp_path: Path,
) -> None:
    with endpoints.Listener(endpoints.hang_up_in_tls) as listener:
        path = endpoints.kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{listener.port}")
        with pytest.raises(errors.UnreachableError, match="closed before an answer"):
            version(connect(path))


def test_an_untrusted_certificate_is_an_identity_error(tmp_path: Path) -> None:
    with endpoints.Listener(endpoints.untrusted_tls) as listener:
        server = f"https://127.0.0.1:{listener.port}"
        conn = connect(endpoints.kubeconfig(tmp_path / "kc", server))
        with pytest.raises(errors.IdentityError) as caught:
            version(conn)
    assert caught.value.message.startswith(
        f"Could not talk TLS to the Kubernetes API server {server} (context kf-test):"
    )
    assert "certificate" in caught.value.message
    assert "certificate-authority" in (caught.value.hint or "")


def test_https_to_a_plain_http_port_says_so(tmp_path: Path) -> None:
    with endpoints.Listener(endpoints.plain_http) as listener:
        path = endpoints.kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{listener.port}")
        with pytest.raises(errors.IdentityError) as caught:
            version(connect(path))
    assert "Something other than TLS answers" in (caught.value.hint or "")


def test_refused_credentials_are_an_identity_error_on_any_request(tmp_path: Path) -> None:
    with endpoints.unauthorized_api_server() as server:
        conn = connect(endpoints.kubeconfig(tmp_path / "kc", server))
        for call in (version, lambda c: c.dynamic(), reading.read):
            with pytest.raises(errors.IdentityError) as caught:
                call(conn)
            assert caught.value.message == (
                f"The Kubernetes API server {server} did not accept the credentials of "
                "context kf-test (401 Unauthorized)."
            )
            assert "expired" in (caught.value.hint or "")


def test_refused_credentials_from_an_exec_plugin_name_the_plugin(tmp_path: Path) -> None:
    endpoint = transport.Endpoint(
        server="https://example.invalid",
        context="prod",
        kubeconfig=tmp_path / "kc",
        exec_command="aws",
    )
    err = transport.unauthenticated(endpoint)
    assert "`aws`" in (err.hint or "")
    assert "installed and logged in" in (err.hint or "")


def test_connection_errors_are_whole_connection_errors() -> None:
    assert set(errors.CONNECTION_ERRORS) == {errors.UnreachableError, errors.IdentityError}
    assert issubclass(errors.UnreachableError, errors.RetryableError)
    assert issubclass(errors.IdentityError, errors.PermanentError)


def test_the_clients_own_tls_wrapping_is_translated_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kubernetes' REST layer turns some urllib3 SSLErrors into ApiException(status=0)."""
    conn = connect(endpoints.kubeconfig(tmp_path / "kc", "https://127.0.0.1:6443"))

    def wrapped_tls(*_: Any, **__: Any) -> Any:
        try:
            raise ssl.SSLCertVerificationError(1, "certificate verify failed")
        except ssl.SSLError as exc:
            raise ApiException(status=0, reason=f"SSLError\n{exc}") from None

    monkeypatch.setattr(conn.api.rest_client, "request", wrapped_tls)
    with pytest.raises(errors.IdentityError, match="Could not talk TLS"):
        version(conn)

    def not_a_connection_problem(*_: Any, **__: Any) -> Any:
        raise ApiException(status=0, reason="Cannot prepare a request message")

    monkeypatch.setattr(conn.api.rest_client, "request", not_a_connection_problem)
    with pytest.raises(ApiException, match="Cannot prepare"):
        version(conn)


def test_a_busy_server_is_waited_for_as_it_asks(tmp_path: Path) -> None:
    with endpoints.busy_api_server(busy=2) as (server, sent):
        conn = connect(endpoints.kubeconfig(tmp_path / "kc", server))
        assert version(conn).git_version == "v1.34.3"
    assert sent == [429, 429, 200]


def test_a_server_that_stays_busy_is_an_answer_not_a_lost_connection(tmp_path: Path) -> None:
    with endpoints.busy_api_server(busy=100) as (server, sent):
        conn = connect(endpoints.kubeconfig(tmp_path / "kc", server))
        with pytest.raises(ApiException) as caught:
            version(conn)
    assert caught.value.status == 429
    assert sent == [429] * 4  # the first answer and three retries
