"""Why a connection failed, in words, from whatever exception chain an HTTP client raised.

Both clients we use (urllib3 under the Kubernetes client, httpx under ``huggingface_hub``)
wrap the operating system's error a few levels deep. ``classify`` walks the chain (causes,
contexts and urllib3's ``reason``) and names the first thing a person can act on: nothing
listening, a name that does not resolve, a certificate, a proxy, a timeout. No network
client is imported here; only the standard library's exception types and class names.
"""

from __future__ import annotations

import dataclasses
import enum
import errno
import socket
import ssl
from collections.abc import Iterator


class Failure(enum.Enum):
    REFUSED = "connection refused"
    DNS = "the host name does not resolve"
    TLS = "TLS failed"
    PROXY = "the proxy failed"
    TIMEOUT = "no answer in time"
    NO_ROUTE = "no route to the host"
    DROPPED = "the connection was closed before an answer"
    OTHER = "the connection failed"

    @property
    def is_identity(self) -> bool:
        """A certificate problem: retrying cannot help, the configuration must change."""
        return self is Failure.TLS


@dataclasses.dataclass(frozen=True)
class Reason:
    failure: Failure
    detail: str  # the innermost error's own words, shortened

    def __str__(self) -> str:
        if self.failure is Failure.TLS and self.detail:
            return f"TLS failed: {self.detail}"
        return self.failure.value


_REFUSED = ("connection refused", "actively refused")
_DNS = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "getaddrinfo failed",
    "no address associated",
    "failed to resolve",
)
_TIMEOUT_CLASSES = {
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ConnectTimeout",
    "ReadTimeout",
    "WriteTimeout",
    "PoolTimeout",
    "TimeoutException",
    "TimeoutError",
    "timeout",
}
_DROPPED = ("connection reset", "remotedisconnected", "server disconnected", "connection aborted")


def classify(exc: BaseException) -> Reason:
    """The most useful reason in ``exc``'s chain; ``Failure.OTHER`` with its text if none."""
    chain = list(_chain(exc))
    for test, failure in _TESTS:
        hits = [item for item in chain if test(item)]
        if hits:  # the innermost one has the operating system's own words
            return Reason(failure, _detail(hits[-1], failure))
    return Reason(Failure.OTHER, _short(str(chain[-1]) or type(chain[-1]).__name__))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        item = todo.pop(0)
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        nested = [getattr(item, "reason", None), item.__cause__, item.__context__]
        nested += [a for a in getattr(item, "args", ()) if isinstance(a, BaseException)]
        todo.extend(n for n in nested if isinstance(n, BaseException))


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _text(exc: BaseException) -> str:
    return str(exc).lower()


def _is_dns(exc: BaseException) -> bool:
    return (
        isinstance(exc, socket.gaierror)
        or "NameResolutionError" in _names(exc)
        or any(s in _text(exc) for s in _DNS)
    )


def _is_refused(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionRefusedError) or any(s in _text(exc) for s in _REFUSED)


def _is_tls(exc: BaseException) -> bool:
    return isinstance(exc, ssl.SSLError) or bool(
        {"SSLError", "SSLCertVerificationError"} & _names(exc)
    )


def _is_hung_up_in_tls(exc: BaseException) -> bool:
    # The server closed the connection during or after the handshake: nothing about
    # certificates, whatever the wrapping SSLError says.
    return isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)) or any(
        s in _text(exc) for s in ("eof occurred in violation", "unexpected eof")
    )


def _is_proxy(exc: BaseException) -> bool:
    return bool({"ProxyError", "ProxySchemeUnknown"} & _names(exc))


def _is_timeout(exc: BaseException) -> bool:
    # urllib3's NewConnectionError derives from ConnectTimeoutError: match the exact class.
    return type(exc).__name__ in _TIMEOUT_CLASSES or "timed out" in _text(exc)


def _is_no_route(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)


def _is_dropped(exc: BaseException) -> bool:
    return isinstance(exc, (ConnectionResetError, ConnectionAbortedError)) or any(
        s in _text(exc) for s in _DROPPED
    )


_TESTS = (  # a proxy's failure wraps the others: it is named first
    (_is_proxy, Failure.PROXY),
    (_is_dns, Failure.DNS),
    (_is_refused, Failure.REFUSED),
    (_is_hung_up_in_tls, Failure.DROPPED),
    (_is_tls, Failure.TLS),
    (_is_no_route, Failure.NO_ROUTE),
    (_is_timeout, Failure.TIMEOUT),
    (_is_dropped, Failure.DROPPED),
)


def _detail(exc: BaseException, failure: Failure) -> str:
    if failure is Failure.TLS:
        verify = getattr(exc, "verify_message", None)
        if verify:
            return str(verify)
        reason = getattr(exc, "reason", None)
        if isinstance(reason, str) and reason:
            return reason.lower().replace("_", " ")
    return _short(str(exc))


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
