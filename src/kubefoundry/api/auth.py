"""Who is asking: the server's authentication modes, browser sessions and CSRF tokens.

Three modes (``kubefoundry serve --auth``):

- ``none``: loopback only; every request acts with the server's own kubeconfig.
- ``token``: one shared bearer token, given or made and printed once when the server starts.
- ``kubernetes``: each user's own Kubernetes token. The API server says whose it is (a
  TokenReview, with the server's identity) and the server then acts *for* that user by
  impersonation, so each user sees and changes exactly what their RBAC allows. Verdicts are
  cached a minute (a refusal ten seconds), keyed by a hash of the token, never the token.

Scripts send ``Authorization: Bearer``. Browsers cannot add that header to a page load, a
form or an EventSource, so ``/login`` trades a token for a session: an opaque random id in an
HttpOnly, SameSite=Strict cookie (Secure over https), mapped here to who signed in. The
token itself is never stored, and never put in a cookie or a page.

A cookie is an ambient credential: another site can make a browser send it. Every unsafe
request that does not carry its own Authorization header must therefore bring the session's
CSRF token (``X-CSRF-Token``, or the form field ``csrf``), an HMAC of the session id under a
key that never leaves this process, and must not come from another site (``Origin``,
``Sec-Fetch-Site``). The check is in ``guarding.py``; this module holds the state it checks.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeGuard

from kubefoundry.cluster import reviews

SESSION_TTL_S = 8 * 3600.0
VERDICT_TTL_S = 60.0  # a revoked token keeps working through the API at most this long
REFUSAL_TTL_S = 10.0
MAX_ENTRIES = 10_000  # sessions and cached verdicts each; the oldest go first


class Mode(enum.StrEnum):
    NONE = "none"
    TOKEN = "token"
    KUBERNETES = "kubernetes"


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who a request is from. ``user`` is set in kubernetes mode: whom the server acts for."""

    name: str
    user: reviews.User | None = None


@dataclasses.dataclass(frozen=True)
class RequestAuth:
    """What ``guarding`` found for one request (on ``request.state.auth``).

    ``via``: ``header`` (Authorization), ``cookie`` (a signed-in session), ``open`` (auth
    ``none``) or ``nobody`` (not signed in: only public paths get this far). ``session`` and
    ``csrf`` are the browser session's id and CSRF token (an anonymous session when nobody
    has signed in), for pages to put in their forms.
    """

    mode: Mode
    principal: Principal | None
    via: str
    session: str
    csrf: str


class RefusedError(Exception):
    """A request that cannot be let in: ``status`` (401, 403, 503), what and how to fix it."""

    def __init__(self, status: int, message: str, *, hint: str, error: str) -> None:
        super().__init__(message)
        self.status, self.message, self.hint, self.error = status, message, hint, error


@dataclasses.dataclass(frozen=True)
class SignIn:
    """How a sign-in went: the new session id and its lifetime, or the refusal's status and
    words (for the login page, which shows them; never the token)."""

    session: str | None
    ttl_s: float = 0.0
    status: int = 200
    problem: str | None = None


@dataclasses.dataclass
class _Session:
    principal: Principal
    expires: float


class Guard:
    """The server's authentication state: mode, the shared token, cached TokenReview
    verdicts, signed-in sessions and the key CSRF tokens are made with. One per app."""

    def __init__(
        self,
        mode: Mode,
        *,
        token: str | None = None,
        review: Callable[[str], reviews.Verdict] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode is Mode.TOKEN and not token:
            raise ValueError("token mode needs a token")
        if mode is Mode.KUBERNETES and review is None:
            raise ValueError("kubernetes mode needs a way to review tokens")
        self.mode = mode
        self._token = token
        self._review = review
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._verdicts: OrderedDict[str, tuple[float, Principal | str]] = OrderedDict()
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- tokens

    def authenticate(self, token: str) -> Principal:
        """Whose ``token`` is; ``RefusedError`` (401) when nobody's. May ask the API server
        (blocking): call it from a worker thread."""
        if self.mode is Mode.NONE:
            return Principal("local user")
        if self.mode is Mode.TOKEN:
            assert self._token is not None
            if hmac.compare_digest(token.encode(), self._token.encode()):
                return Principal("token holder")
            raise self.unauthorized("The token is not this server's.")
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._cached(key)
        if cached is None:
            cached = self._kubernetes(token)
            ttl = VERDICT_TTL_S if isinstance(cached, Principal) else REFUSAL_TTL_S
            self._remember(self._verdicts, key, (self._clock() + ttl, cached))
        if isinstance(cached, Principal):
            return cached
        raise self.unauthorized(f"The Kubernetes API server refused this token: {cached}.")

    def _kubernetes(self, token: str) -> Principal | str:
        from kubefoundry.core.errors import KubeFoundryError

        assert self._review is not None
        try:
            verdict = self._review(token)
        except KubeFoundryError as exc:
            raise RefusedError(
                503,
                f"This server cannot check Kubernetes tokens now: {exc.message}",
                hint=(exc.hint or "")
                + " Its own identity needs `create tokenreviews` (the chart's ClusterRole "
                "grants it).",
                error="unavailable",
            ) from None
        if verdict.user is None:
            return verdict.reason or "unknown token"
        return Principal(verdict.user.name, user=verdict.user)

    def _cached(self, key: str) -> Principal | str | None:
        with self._lock:
            found = self._verdicts.get(key)
            if found is None or found[0] < self._clock():
                return None
            return found[1]

    def unauthorized(self, message: str | None = None) -> RefusedError:
        if self.mode is Mode.KUBERNETES:
            said = message or "This server wants your Kubernetes token."
            hint = (
                "Send Authorization: Bearer <token>, or sign in at /login: a service "
                "account's token from `kubectl create token NAME -n NAMESPACE`, or the token "
                "your kubeconfig's user holds. An expired token needs a fresh one."
            )
        else:
            said = message or "This server wants a bearer token."
            hint = (
                "Send Authorization: Bearer <the token `kubefoundry serve` printed>, or sign "
                "in at /login with it."
            )
        return RefusedError(401, said, hint=hint, error="unauthorized")

    # ---------------------------------------------------------------- sessions

    def sign_in(self, token: str) -> tuple[str, Principal, float]:
        """A new session for ``token``'s owner: its id, the principal and its lifetime in
        seconds (no longer than a Kubernetes token's own expiry, where the token says)."""
        principal = self.authenticate(token)
        ttl = SESSION_TTL_S
        if self.mode is Mode.KUBERNETES:
            ttl = min(ttl, max(0.0, (_expiry(token) or float("inf")) - time.time()))
        session = new_session_id()
        self._remember(self._sessions, session, _Session(principal, self._clock() + ttl))
        return session, principal, ttl

    def login(self, token: str) -> SignIn:
        """``sign_in`` for the login form: a refusal is an answer, not an exception."""
        try:
            session, _, ttl = self.sign_in(token)
        except RefusedError as refused:
            return SignIn(None, status=refused.status, problem=f"{refused.message} {refused.hint}")
        return SignIn(session, ttl_s=ttl)

    def session(self, session: str | None) -> Principal | None:
        """Who signed in with this session id, if it is one and has not expired."""
        if not session:
            return None
        with self._lock:
            found = self._sessions.get(session)
            if found is None:
                return None
            if found.expires < self._clock():
                del self._sessions[session]
                return None
            return found.principal

    def sign_out(self, session: str | None) -> None:
        with self._lock:
            self._sessions.pop(session or "", None)

    def _remember(self, store: OrderedDict[str, Any], key: str, value: Any) -> None:
        with self._lock:
            store[key] = value
            store.move_to_end(key)
            while len(store) > MAX_ENTRIES:
                store.popitem(last=False)

    # ---------------------------------------------------------------- CSRF

    def csrf(self, session: str) -> str:
        """The CSRF token of a session: an HMAC of its id, so anonymous sessions (auth
        ``none``, the login form) need no server state."""
        digest = hmac.new(self._key, b"csrf:" + session.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def csrf_ok(self, session: str, given: str | None) -> bool:
        if not given:
            return False
        return hmac.compare_digest(self.csrf(session).encode(), given.encode())


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def is_session_id(value: str | None) -> TypeGuard[str]:
    """A value we could have made (43 URL-safe characters); anything else is ignored."""
    if value is None or len(value) != 43:
        return False
    return value.replace("-", "").replace("_", "").isalnum() and value.isascii()


def _expiry(token: str) -> float | None:
    """A JWT's ``exp`` (epoch seconds), read without checking the signature: the API server
    has just vouched for the token; this only keeps a session from outliving it."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) else None
