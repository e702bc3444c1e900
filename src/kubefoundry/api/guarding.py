"""The gate every request passes: authentication, the session cookie and CSRF.

An ASGI middleware rather than a per-route dependency, so a route added later (a page, a
form, a stream) cannot forget it. For each HTTP request it:

1. finds who is asking: ``Authorization: Bearer`` (checked by ``auth.Guard``), else a
   signed-in session cookie, else nobody (auth ``none``: the local user);
2. lets nobody through to anything but the public paths (health, login, static files, the
   OpenAPI document): ``/api`` answers 401 saying how to authenticate, a page redirects to
   ``/login?next=…``;
3. for an unsafe method (POST, PUT, PATCH, DELETE) not carrying its own Authorization
   header, refuses (403) a request from another site (``Sec-Fetch-Site``, ``Origin``), and
   one without the session's CSRF token (``X-CSRF-Token``, or the form field ``csrf``) when a
   session cookie authenticates it or it is a POST another site's page could send without
   asking (a form, text, no body) — the latter even with auth ``none``, where a page
   elsewhere could otherwise post to this loopback server;
4. hands the result to the app as ``request.state.auth`` and, on pages, mints the
   anonymous session cookie their forms' CSRF tokens are bound to.
"""

from __future__ import annotations

import html
import urllib.parse

import anyio
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kubefoundry.api import auth
from kubefoundry.api.models import ErrorBody

COOKIE = "kubefoundry_session"
PUBLIC = frozenset({"/healthz", "/login", "/openapi.json", "/docs", "/docs/oauth2-redirect"})
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
MAX_FORM_BYTES = 1 << 20


class Middleware:
    def __init__(self, app: ASGIApp, *, guard: auth.Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        given = cookie_parser(headers.get("cookie", "")).get(COOKIE)
        session = given if auth.is_session_id(given) else auth.new_session_id()
        try:
            found = await self._who(scope, headers, session)
            if found is None or (scope["type"] == "websocket" and found.via == "nobody"):
                if scope["type"] == "websocket":  # none today; never an open door later
                    await send({"type": "websocket.close", "code": 1008})
                else:
                    await _redirect_to_login(scope, send)
                return
            if scope.get("method") in UNSAFE and found.via != "header":
                receive = await self._check_csrf(scope, headers, receive, found)
        except auth.RefusedError as refused:
            page = not _is_api(scope["path"]) and "text/html" in headers.get("accept", "")
            await _refuse(refused, send, websocket=scope["type"] == "websocket", page=page)
            return
        scope.setdefault("state", {})["auth"] = found
        path = scope["path"]
        mint = given != session and (path == "/login" or not (_is_api(path) or is_public(path)))
        await self.app(scope, receive, _with_cookie(send, session, scope) if mint else send)

    async def _who(self, scope: Scope, headers: Headers, session: str) -> auth.RequestAuth | None:
        """Who asks; None for a page that wants a sign-in first (``RefusedError`` for the API)."""
        guard, path = self.guard, scope["path"]
        principal, via = None, "nobody"
        authorization = headers.get("authorization")
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise guard.unauthorized("The Authorization header is not `Bearer <token>`.")
            principal = await anyio.to_thread.run_sync(guard.authenticate, token.strip())
            via = "header"
        elif (principal := guard.session(session)) is not None:
            via = "cookie"
        elif guard.mode is auth.Mode.NONE:
            principal, via = auth.Principal("local user"), "open"
        found = auth.RequestAuth(
            mode=guard.mode, principal=principal, via=via, session=session,
            csrf=guard.csrf(session),
        )  # fmt: skip
        if principal is None and not is_public(path):
            if _is_api(path):
                raise guard.unauthorized()
            return None
        return found

    async def _check_csrf(
        self,
        scope: Scope,
        headers: Headers,
        receive: Receive,
        found: auth.RequestAuth,
    ) -> Receive:
        """The request's ``receive`` (replaying a form body read here) when it passes."""
        cross = _cross_site(scope, headers)
        if cross:
            raise auth.RefusedError(
                403,
                f"Refused a {scope['method']} from another site ({cross}).",
                hint="Use this server's own pages, or send Authorization: Bearer from a "
                "script; browsers may not change things here on another site's behalf.",
                error="cross_site",
            )
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        simple = scope["method"] == "POST" and (kind in FORMS or not kind)
        if found.via != "cookie" and not simple:
            # No session speaks for it, and a browser sends this (JSON, PUT, PATCH, DELETE)
            # to another origin only after a CORS preflight, which this server never grants.
            return receive
        given = headers.get("x-csrf-token")
        if given is None and kind == FORMS[0]:
            body = await _read(receive, scope)
            given = _field(body, "csrf")
            receive = _replay(body)
        if not self.guard.csrf_ok(found.session, given):
            said = "is missing" if given is None else "does not match this session"
            raise auth.RefusedError(
                403,
                f"The CSRF token {said}: a form or script must send the one this session's "
                "pages carry.",
                hint="Reload the page and submit again (its form carries the token); a script "
                'sends the X-CSRF-Token header from the page\'s <meta name="csrf-token">, or '
                "uses Authorization: Bearer instead of the cookie.",
                error="csrf",
            )
        return receive


def _is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def is_public(path: str) -> bool:
    return path in PUBLIC or path.startswith("/static/")


def _cross_site(scope: Scope, headers: Headers) -> str | None:
    """Why the request comes from another site, if it does (else None)."""
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"Sec-Fetch-Site: {site}"
    origin = headers.get("origin")
    if origin is None:
        return None  # not a browser's cross-origin request; the CSRF token still decides
    host = headers.get("host", "")
    if origin != f"{scope.get('scheme', 'http')}://{host}":
        return f"Origin {origin[:100]} is not {host[:100]}"
    return None


async def _read(receive: Receive, scope: Scope) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise auth.RefusedError(
                413, "The form is larger than 1 MiB.", hint="Send less.", error="too_large"
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _field(body: bytes, name: str) -> str | None:
    values = urllib.parse.parse_qs(body.decode("latin-1"), max_num_fields=1000).get(name)
    return values[0] if values else None


def cookie_header(session: str, *, secure: bool, max_age: float | None = None) -> str:
    """The Set-Cookie value: HttpOnly (no script reads it), SameSite=Strict (no other site's
    request carries it), Secure over https; ``max_age`` 0 deletes it."""
    parts = [f"{COOKIE}={session}", "Path=/", "HttpOnly", "SameSite=Strict"]
    if secure:
        parts.append("Secure")
    if max_age is not None:
        parts.append(f"Max-Age={int(max_age)}")
    return "; ".join(parts)


def _with_cookie(send: Send, session: str, scope: Scope) -> Send:
    secure = scope.get("scheme") == "https"

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            raw = list(message.get("headers", []))
            own = any(k.lower() == b"set-cookie" and COOKIE.encode() in v for k, v in raw)
            if not own:  # a response that sets its own (login, logout) wins
                raw.append((b"set-cookie", cookie_header(session, secure=secure).encode()))
            message = {**message, "headers": raw}
        await send(message)

    return wrapped


async def _refuse(
    refused: auth.RefusedError, send: Send, *, websocket: bool = False, page: bool = False
) -> None:
    """The refusal as the API's JSON error body, or, for a browser asking for a page (a form
    posted without its CSRF token, from another site), as a small page saying the same."""
    if websocket:
        await send({"type": "websocket.close", "code": 1008})
        return
    if page:
        data = _refusal_page(refused).encode()
        kind = b"text/html; charset=utf-8"
    else:
        body = ErrorBody(error=refused.error, message=refused.message, hint=refused.hint)
        data = body.model_dump_json().encode()
        kind = b"application/json"
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", kind),
        (b"content-length", str(len(data)).encode()),
    ]
    if refused.status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": refused.status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _redirect_to_login(scope: Scope, send: Send) -> None:
    query = scope.get("query_string", b"").decode("latin-1")
    target = scope["path"] + (f"?{query}" if query else "")
    location = "/login?" + urllib.parse.urlencode({"next": target})
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location.encode()), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def _refusal_page(refused: auth.RefusedError) -> str:
    """A refusal as a page (the pages' stylesheet, a way back); every value escaped."""
    message, hint = html.escape(refused.message), html.escape(refused.hint or "")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark"><title>Refused · KubeFoundry</title>'
        '<link rel="stylesheet" href="/static/style.css"></head><body>'
        '<a class="skip" href="#main">Skip to content</a><main id="main">'
        f'<h1>Refused</h1><div class="refused" role="alert"><p><strong>{message}</strong></p>'
        f"<p>{hint}</p><p>Nothing was changed.</p></div>"
        '<p><a href="/">Back to the catalog</a></p></main></body></html>\n'
    )
