"""How our Kubernetes client uses the network: short connection attempts, few retries, and
every failure of the connection itself turned into an error that names the server, the
context and the fix.

The official client lets urllib3's exceptions (``MaxRetryError`` around the operating
system's error) escape from any call. ``ApiClient.call_api`` is the one place every request
passes, typed and dynamic alike, so it translates them there and no caller needs to:

- nothing listening, DNS, no route, timeouts, a dropped connection → ``UnreachableError``
  (retryable, but after one quick connection retry: a closed port fails in well under a
  second, a silent one after ``2 × connect_timeout_s``);
- an untrusted server certificate, or 401 on any request → ``IdentityError`` (permanent).

Every request has a connect timeout and a read timeout (``READ_TIMEOUT_S``: a stalled API
server would otherwise hang any command for ever, whatever its ``--timeout`` says). The
long-lived ones pass their own: a watch asks for a little more than its ``timeoutSeconds``,
a log follow for none (``NO_READ_TIMEOUT``: a quiet engine sends nothing for hours).
A caller with a deadline (``deploy --timeout``, ``status --watch --timeout``) sets
``ApiClient.deadline``: from then on no request, long-lived or not, outlives it, so the
command ends on time with a message about where it stuck.

A client may act for someone else (``Impersonation``): every request then carries
``Impersonate-User``, one ``Impersonate-Group`` line per group and ``Impersonate-Uid``, and the
API server authorizes it as that user (after checking that our own identity may impersonate).
``kubefoundry serve --auth kubernetes`` acts for each signed-in user this way.
"""

from __future__ import annotations

import dataclasses
import shlex
import time
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from kubefoundry.cluster.errors import IdentityError, UnreachableError
from kubefoundry.core import network
from kubefoundry.core.errors import KubeFoundryError

CONNECT_TIMEOUT_S = 5.0
# Longer than any single answer we wait for (a server-side apply of a large CRD, a list of
# every pod), short enough that a stalled server is named within a minute (one retry).
READ_TIMEOUT_S = 30.0
NO_READ_TIMEOUT = "no read timeout"  # a log follow: bounded by a deadline alone
_CLOUD_LOGINS = (
    "`az aks get-credentials`, `gcloud container clusters get-credentials` or "
    "`aws eks update-kubeconfig`"
)


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """Where requests go and on whose behalf, for messages (never the credentials)."""

    server: str
    context: str
    kubeconfig: Path
    exec_command: str | None = None  # the credential plugin the context's user runs

    def kubectl(self, args: str) -> str:
        where = f"--kubeconfig {shlex.quote(str(self.kubeconfig))} --context "
        return f"`kubectl {where}{shlex.quote(self.context)} {args}`"


@dataclasses.dataclass(frozen=True)
class Impersonation:
    """The user a client acts for, as the API server named them (a TokenReview's answer)."""

    user: str
    groups: tuple[str, ...] = ()
    uid: str | None = None

    def headers(self, given: Any) -> urllib3.HTTPHeaderDict:
        """``given`` plus the impersonation headers. Groups go one header line each: the API
        server reads every ``Impersonate-Group`` line as one group and never splits on commas,
        so the client's plain dict of headers cannot carry them."""
        out = urllib3.HTTPHeaderDict(given or {})
        out["Impersonate-User"] = self.user
        for group in self.groups:
            out.add("Impersonate-Group", group)
        if self.uid:
            out["Impersonate-Uid"] = self.uid
        return out


def retries() -> urllib3.Retry:
    """One quick retry of a failed connection or read. An HTTP status is retried only when
    the server asks for it with Retry-After (429 and 503: a CRD's storage still starting,
    API priority and fairness), at most three times, waiting as long as it says; after that
    the answer itself is returned, and the callers decide (``cluster/errors.py``). Never a
    "connection failed" for a server that answered."""
    return urllib3.Retry(
        total=5,
        connect=1,
        read=1,
        status=3,
        other=0,
        backoff_factor=0.2,
        status_forcelist=(),
        respect_retry_after_header=True,
        raise_on_status=False,
    )


class ApiClient(client.ApiClient):
    """The official client, with a connect timeout and translated connection failures."""

    def __init__(
        self,
        configuration: client.Configuration,
        *,
        endpoint: Endpoint,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        impersonate: Impersonation | None = None,
    ) -> None:
        configuration.retries = retries()
        super().__init__(configuration)
        self.endpoint = endpoint
        self.connect_timeout_s = connect_timeout_s
        self.impersonate = impersonate
        self.deadline: float | None = None  # time.monotonic() after which nothing may wait

    def param_serialize(self, *args: Any, **kwargs: Any) -> Any:
        try:  # an exec credential plugin may run again here to refresh its token
            return super().param_serialize(*args, **kwargs)
        except ConfigException as exc:
            raise unauthenticated(self.endpoint, detail=str(exc)) from None

    def call_api(
        self,
        method: str,
        url: str,
        header_params: Any = None,
        body: Any = None,
        post_params: Any = None,
        _request_timeout: Any = None,
    ) -> Any:
        timeout = self.timeout(_request_timeout)
        if self.impersonate is not None:
            header_params = self.impersonate.headers(header_params)
        try:
            response = super().call_api(
                method, url, header_params, body, post_params, _request_timeout=timeout
            )
        except urllib3.exceptions.HTTPError as exc:
            if isinstance(exc, urllib3.exceptions.ReadTimeoutError) or (
                isinstance(exc, urllib3.exceptions.MaxRetryError)
                and isinstance(exc.reason, urllib3.exceptions.ReadTimeoutError)
            ):
                raise stalled(self.endpoint, timeout_s=timeout[1], deadline=self.deadline) from None
            raise failure(exc, self.endpoint, timeout_s=self.connect_timeout_s) from None
        except ApiException as exc:
            # The client wraps some TLS errors itself, as status 0 with the cause as context.
            if exc.status or not str(exc.reason or "").startswith("SSLError"):
                raise
            cause = exc.__context__ or exc
            raise failure(cause, self.endpoint, timeout_s=self.connect_timeout_s) from None
        if response.status == 401:
            response.read()  # hand the connection back to the pool before failing
            raise unauthenticated(self.endpoint)
        return response

    def timeout(self, asked: Any) -> tuple[float, float | None]:
        """(connect, read) seconds for a request that asked for ``asked`` (the client's
        ``_request_timeout``: None, one number or a pair; ``NO_READ_TIMEOUT``), never past
        ``deadline``."""
        connect: float = self.connect_timeout_s
        read: float | None = READ_TIMEOUT_S
        if asked == NO_READ_TIMEOUT:
            read = None
        elif isinstance(asked, int | float):
            connect = read = float(asked)
        elif asked is not None:
            connect, read = asked
        if self.deadline is not None:
            left = max(0.1, self.deadline - time.monotonic())
            connect, read = min(connect, left), left if read is None else min(read, left)
        return connect, read


def stalled(
    endpoint: Endpoint, *, timeout_s: float | None, deadline: float | None
) -> UnreachableError:
    """The error for a server that took the connection but sent no answer in time."""
    where = f"The Kubernetes API server {endpoint.server} (context {endpoint.context})"
    # No figure: the wait that ran out may be the TLS handshake's (the connect timeout) or
    # a request's (``timeout_s``), and the message must not name the wrong one.
    del timeout_s
    ended = deadline is not None and time.monotonic() >= deadline - 0.5
    return UnreachableError(
        f"{where} accepted the connection but sent no answer in time"
        + (": the command's time limit is over." if ended else "."),
        delay_s=5.0,
        hint="It is overloaded or stalled (a stopped process, a full etcd): check it with "
        f"{endpoint.kubectl('get --raw /readyz')} and try again; nothing was left half-done "
        "that running the command again does not finish.",
    )


def failure(
    exc: BaseException, endpoint: Endpoint, *, timeout_s: float = CONNECT_TIMEOUT_S
) -> KubeFoundryError:
    """The error for a request that got no HTTP answer from ``endpoint``."""
    reason = network.classify(exc)
    where = f"the Kubernetes API server {endpoint.server} (context {endpoint.context})"
    if reason.failure.is_identity:
        return IdentityError(
            f"Could not talk TLS to {where}: {reason.detail}.", hint=_tls(endpoint, reason)
        )
    return UnreachableError(
        f"Cannot reach {where}: {reason}.",
        delay_s=2.0,
        hint=_hint(endpoint, reason.failure, timeout_s=timeout_s),
    )


def unauthenticated(endpoint: Endpoint, *, detail: str | None = None) -> IdentityError:
    said = f": {' '.join(detail.split())[:200]}" if detail else ""
    message = (
        f"The Kubernetes API server {endpoint.server} did not accept the credentials of "
        f"context {endpoint.context} (401 Unauthorized){said}."
    )
    if endpoint.exec_command:
        hint = (
            f"The context's user gets its token from `{endpoint.exec_command}`: check that it "
            "is installed and logged in (run it yourself to see its error)."
        )
    else:
        hint = (
            f"The token or client certificate in {endpoint.kubeconfig} has expired or is "
            f"wrong: log in again, or fetch a fresh kubeconfig ({_CLOUD_LOGINS}; "
            "`kubefoundry sandbox up` for the local sandbox)."
        )
    return IdentityError(message, hint=hint)


def _hint(endpoint: Endpoint, failure: network.Failure, *, timeout_s: float) -> str:
    check = f"Check with {endpoint.kubectl('cluster-info')}."
    if failure is network.Failure.REFUSED:
        return (
            "Nothing is listening there: start the cluster, or pick the kubeconfig or context "
            f"of one that runs (--kubeconfig, --context). {check} For the local sandbox, "
            "`kubefoundry sandbox up` prints the kubeconfig to use."
        )
    if failure is network.Failure.DNS:
        return (
            f"Check the server address ({endpoint.kubectl('config view --minify')}), your "
            f"VPN and DNS; a recreated cloud cluster needs a fresh kubeconfig ({_CLOUD_LOGINS})."
        )
    if failure in (network.Failure.TIMEOUT, network.Failure.NO_ROUTE):
        return (
            f"Nothing answered within {timeout_s:g}s: a private cluster endpoint needs its VPN "
            f"or bastion, and a firewall may drop the traffic. {check}"
        )
    if failure is network.Failure.PROXY:
        return f"Check HTTPS_PROXY and NO_PROXY, or the proxy-url in the kubeconfig. {check}"
    return f"The server may be restarting: try again in a moment. {check}"


def _tls(endpoint: Endpoint, reason: network.Reason) -> str:
    detail = reason.detail.lower()
    if any(
        s in detail for s in ("wrong version", "record layer", "http request", "unknown protocol")
    ):
        return (
            f"Something other than TLS answers at {endpoint.server}: check the scheme and port "
            f"of the server in {endpoint.kubeconfig}."
        )
    return (
        f"The server's certificate is not signed by the certificate-authority in "
        f"{endpoint.kubeconfig} (a cluster recreated at the same address gets a new one): "
        f"fetch a fresh kubeconfig ({_CLOUD_LOGINS}), or fix its certificate-authority-data."
    )
