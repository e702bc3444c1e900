"""Connection failures in words, whichever client wrapped the operating system's error."""

from __future__ import annotations

import errno
import socket
import ssl
from typing import Any

import httpx2
import pytest
import urllib3
from tests.support import endpoints
from urllib3 import exceptions as u3

from kubefoundry.core import network
from kubefoundry.core.network import Failure


def chained(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


def cert_error() -> ssl.SSLCertVerificationError:
    err = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify")
    err.verify_message = "self-signed certificate"
    return err


TIMEOUT = type("ConnectTimeout", (Exception,), {})  # httpx's name, without httpx


@pytest.mark.parametrize(
    ("exc", "failure", "words"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), Failure.REFUSED, ""),
        (
            u3.MaxRetryError(
                None,  # type: ignore[arg-type]
                "/version",
                u3.NameResolutionError(
                    "kube.example", None, socket.gaierror(-2, "Name or service not known")
                ),  # type: ignore[arg-type]
            ),
            Failure.DNS,
            "",
        ),
        (socket.gaierror(-3, "Temporary failure in name resolution"), Failure.DNS, ""),
        (
            u3.MaxRetryError(None, "/version", u3.SSLError(cert_error())),  # type: ignore[arg-type]
            Failure.TLS,
            "TLS failed: self-signed certificate",
        ),
        (u3.ProxyError("Unable to connect to proxy", ConnectionRefusedError()), Failure.PROXY, ""),
        (u3.ConnectTimeoutError(None, "timed out (connect timeout=5)"), Failure.TIMEOUT, ""),
        (chained(TIMEOUT("boom"), OSError("x")), Failure.TIMEOUT, ""),
        (OSError(errno.EHOSTUNREACH, "No route to host"), Failure.NO_ROUTE, ""),
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), Failure.DROPPED, ""),
        (
            u3.MaxRetryError(
                None,
                "/version",
                u3.SSLError(ssl.SSLEOFError(8, "EOF occurred in violation of protocol")),
            ),  # type: ignore[arg-type]
            Failure.DROPPED,
            "",
        ),
        (ValueError("something else"), Failure.OTHER, ""),
    ],
    ids=[
        "refused",
        "dns-urllib3",
        "dns-socket",
        "tls",
        "proxy",
        "timeout-urllib3",
        "timeout-httpx",
        "no-route",
        "reset",
        "hung-up-in-tls",
        "other",
    ],
)
def test_classify(exc: BaseException, failure: Failure, words: str) -> None:
    reason = network.classify(exc)
    assert reason.failure is failure
    assert str(reason) == (words or failure.value)
    assert reason.failure.is_identity == (failure is Failure.TLS)


def test_real_clients_on_a_closed_port_are_refused() -> None:
    """The chains urllib3 (Kubernetes client) and httpx (huggingface_hub) really raise."""
    port = endpoints.closed_port()
    caught: list[Any] = []
    with urllib3.PoolManager(retries=False) as pool:
        try:
            pool.request("GET", f"http://127.0.0.1:{port}/")
        except u3.HTTPError as exc:
            caught.append(exc)
    with httpx2.Client() as client:
        try:
            client.get(f"http://127.0.0.1:{port}/")
        except httpx2.HTTPError as exc:
            caught.append(exc)
    assert [network.classify(e).failure for e in caught] == [Failure.REFUSED, Failure.REFUSED]
