"""Signing in from a browser: ``/login`` trades a token for a session cookie; ``/logout``.

A page load, a form and an EventSource cannot carry an Authorization header, so a person
pastes the server's token (``--auth token``) or their own Kubernetes token (``--auth
kubernetes``) once; the server checks it as it checks a header and answers with a cookie
holding an opaque session id. The token goes nowhere else: not into the cookie, the page,
the redirect or a log line.

The authentication state (``request.app.state.auth``) and the CSRF check belong to the API
shell (``api/auth``, ``api/guarding``), which the web shell does not import: this module
reaches them through the small protocol below. The Jinja globals ``csrf_field()`` and
``csrf_token()`` put the session's CSRF token into the pages' forms and
``<meta name="csrf-token">``.
"""

from __future__ import annotations

import urllib.parse
from typing import Any, Protocol

import jinja2
import markupsafe
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

COOKIE = "kubefoundry_session"  # the same name api/guarding reads


class SignIn(Protocol):
    session: str | None
    ttl_s: float
    status: int
    problem: str | None


class Guard(Protocol):
    """What this module needs of ``api.auth.Guard``."""

    @property
    def mode(self) -> Any: ...

    def login(self, token: str) -> SignIn: ...

    def sign_out(self, session: str | None) -> None: ...


def template_globals() -> dict[str, Any]:
    """``csrf_token()`` and ``csrf_field()`` for every template (they read the request)."""

    @jinja2.pass_context
    def csrf_token(context: Any) -> str:
        found = getattr(context["request"].state, "auth", None)
        return str(found.csrf) if found is not None else ""

    @jinja2.pass_context
    def csrf_field(context: Any) -> markupsafe.Markup:
        token = markupsafe.escape(csrf_token(context))
        return markupsafe.Markup(f'<input type="hidden" name="csrf" value="{token}">')

    @jinja2.pass_context
    def signed_in(context: Any) -> str | None:
        """Who is signed in through a session (None: nobody, or auth ``none``)."""
        found = getattr(context["request"].state, "auth", None)
        if found is None or found.via != "cookie" or found.principal is None:
            return None
        return str(found.principal.name)

    return {"csrf_token": csrf_token, "csrf_field": csrf_field, "signed_in": signed_in}


def router(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def form(request: Request, status: int = 200, **context: Any) -> HTMLResponse:
        guard: Guard = request.app.state.auth
        return templates.TemplateResponse(
            request,
            "login.html",
            {
                "mode": str(guard.mode),
                "next": safe_next(request.query_params.get("next")),
                "error": None,
            }
            | context,
            status_code=status,
        )

    @router.get("/login", response_class=HTMLResponse)
    def login_page(request: Request) -> Response:
        if str(request.app.state.auth.mode) == "none":
            return RedirectResponse(safe_next(request.query_params.get("next")), 303)
        return form(request)

    @router.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        """CSRF is checked before this runs (the form's ``csrf`` field), like every post."""
        guard: Guard = request.app.state.auth
        fields = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
        token = (fields.get("token") or [""])[0].strip()
        wanted = safe_next((fields.get("next") or [""])[0])
        if str(guard.mode) == "none":
            return RedirectResponse(wanted, 303)
        if not token:
            return form(request, 422, error="Paste a token.", next=wanted)
        from starlette.concurrency import run_in_threadpool

        done = await run_in_threadpool(guard.login, token)  # may ask the API server
        if done.session is None:
            return form(request, done.status, error=done.problem, next=wanted)
        answer = RedirectResponse(wanted, 303)  # a new session id: none fixed beforehand
        answer.headers.append("set-cookie", cookie(request, done.session, max_age=done.ttl_s))
        return answer

    @router.post("/logout")
    def logout(request: Request) -> Response:
        guard: Guard = request.app.state.auth
        guard.sign_out(request.cookies.get(COOKIE))
        answer = RedirectResponse("/login" if str(guard.mode) != "none" else "/", 303)
        answer.headers.append("set-cookie", cookie(request, "", max_age=0))
        return answer

    return router


def cookie(request: Request, session: str, *, max_age: float) -> str:
    """HttpOnly, SameSite=Strict, Secure over https; the value is the opaque session id."""
    parts = [f"{COOKIE}={session}", "Path=/", "HttpOnly", "SameSite=Strict"]
    if request.url.scheme == "https":
        parts.append("Secure")
    parts.append(f"Max-Age={int(max_age)}")
    return "; ".join(parts)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this server only (never ``//other.site`` or
    a full URL: an open redirect would lend our name to a phishing page)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(c in target for c in "\r\n\\"):
        return "/"
    return target[:2000]
