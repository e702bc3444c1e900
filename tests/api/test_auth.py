"""Authentication, browser sessions and CSRF (issue 10, security), in process.

The real application with ``--auth token`` (the shared token is the canary, so any leak
shows) and ``--auth none``, through Starlette's test client: the header and cookie paths,
the login page and its cookie, logout, and every way a cookie-carried request can be
refused (no CSRF token, a wrong one, another site's Origin or Sec-Fetch-Site). The
kubernetes mode runs against the sandbox's API server in ``tests/integration``.
"""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient
from tests.support.rendering import CANARY

from kubefoundry.api import auth
from kubefoundry.api.app import create_app
from kubefoundry.cli import serve_cmd

PLAN = {"model": "qwen3-8b"}
BEARER = {"Authorization": f"Bearer {CANARY}"}


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(token=CANARY))


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


def _sign_in(client: TestClient, token: str = CANARY, next_: str = "/") -> tuple[str, str]:
    """Sign in through the login form; the session's CSRF token (from a page) and the
    Set-Cookie header the login answered with."""
    form = client.get("/login", params={"next": next_})
    answer = client.post(
        "/login",
        data={"token": token, "csrf": _csrf(form.text), "next": next_},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    page = client.get("/login")  # any page carries the (new) session's token
    assert client.cookies.get("kubefoundry_session")
    return _csrf(page.text), answer.headers["set-cookie"]


def test_the_api_wants_the_token_in_a_header_or_a_session(client: TestClient) -> None:
    refused = client.get("/api/v1/gpus")
    assert refused.status_code == 401
    assert refused.json()["error"] == "unauthorized"
    assert "/login" in refused.json()["hint"]
    assert refused.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/v1/gpus", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/api/v1/gpus", headers={"Authorization": "Basic x"}).status_code == 401
    assert client.get("/api/v1/gpus", headers=BEARER).status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_pages_redirect_to_the_login_page_with_where_they_were(client: TestClient) -> None:
    answer = client.get("/models/qwen3-8b", params={"profile": "rag"}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fmodels%2Fqwen3-8b%3Fprofile%3Drag"


def test_signing_in_sets_an_httponly_strict_cookie_that_is_not_the_token(
    client: TestClient,
) -> None:
    _, cookie = _sign_in(client, next_="/models/qwen3-8b")
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain http here; over https see below
    assert CANARY not in cookie
    session = client.cookies.get("kubefoundry_session")
    assert session
    assert len(session) == 43
    assert client.get("/api/v1/gpus").status_code == 200  # the cookie alone
    assert client.get("/").status_code == 200


def test_a_wrong_token_on_the_login_page_says_why_and_sets_no_session(
    client: TestClient,
) -> None:
    form = client.get("/login")
    answer = client.post("/login", data={"token": "nope", "csrf": _csrf(form.text)})
    assert answer.status_code == 401
    assert "not this server" in answer.text
    assert client.get("/api/v1/gpus").status_code == 401


def test_the_cookie_is_secure_over_https() -> None:
    client = TestClient(create_app(token=CANARY), base_url="https://testserver")
    _, cookie = _sign_in(client)
    assert "Secure" in cookie


def test_logout_ends_the_session(client: TestClient) -> None:
    csrf, _ = _sign_in(client)
    old = client.cookies.get("kubefoundry_session")
    answer = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    assert "Max-Age=0" in answer.headers["set-cookie"]
    assert old is not None
    client.cookies.clear()
    client.cookies.set("kubefoundry_session", old)  # a browser that kept it anyway
    assert client.get("/api/v1/gpus").status_code == 401  # the server forgot it


def test_after_login_only_a_local_path_is_followed(client: TestClient) -> None:
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        form = client.get("/login")
        answer = client.post(
            "/login",
            data={"token": CANARY, "csrf": _csrf(form.text), "next": evil},
            follow_redirects=False,
        )
        assert answer.headers["location"] == "/", evil


def test_a_cookie_authenticated_post_needs_the_sessions_csrf_token(client: TestClient) -> None:
    csrf, _ = _sign_in(client)
    missing = client.post("/api/v1/plan", json=PLAN)
    assert missing.status_code == 403
    assert missing.json()["error"] == "csrf"
    assert "X-CSRF-Token" in missing.json()["hint"]
    other = csrf[:-1] + ("A" if csrf[-1] != "A" else "B")  # one character off, never equal
    wrong = client.post("/api/v1/plan", json=PLAN, headers={"X-CSRF-Token": other})
    assert wrong.status_code == 403
    right = client.post("/api/v1/plan", json=PLAN, headers={"X-CSRF-Token": csrf})
    assert right.status_code == 200, right.text


def test_another_sites_request_is_refused_even_with_the_token(client: TestClient) -> None:
    csrf, _ = _sign_in(client)
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        answer = client.post("/api/v1/plan", json=PLAN, headers={"X-CSRF-Token": csrf, **headers})
        assert answer.status_code == 403, headers
        assert answer.json()["error"] == "cross_site"
    same = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin", "X-CSRF-Token": csrf}
    assert client.post("/api/v1/plan", json=PLAN, headers=same).status_code == 200


def test_a_request_with_its_own_authorization_header_skips_csrf(client: TestClient) -> None:
    """No ambient credential: a script's header is not something another site can send."""
    fresh = TestClient(client.app)
    answer = fresh.post(
        "/api/v1/plan", json=PLAN, headers={**BEARER, "Origin": "https://elsewhere.example"}
    )
    assert answer.status_code == 200, answer.text


def test_a_form_post_carries_the_csrf_field(client: TestClient) -> None:
    """The login form itself: its hidden ``csrf`` field is checked like any form's."""
    client.get("/login")
    refused = client.post("/login", data={"token": CANARY})
    assert refused.status_code == 403
    assert refused.json()["error"] == "csrf"
    assert client.cookies.get("kubefoundry_session") is not None


def test_with_auth_none_a_form_post_still_needs_the_csrf_token() -> None:
    """Another site can make a browser post a form to a loopback server: the form needs the
    page's token even though nobody signs in. A script's JSON (which a browser would send
    cross-origin only after a preflight this server never grants) needs none."""
    client = TestClient(create_app())
    assert client.get("/api/v1/gpus").status_code == 200
    assert client.post("/api/v1/plan", json=PLAN).status_code == 200  # curl, no cookie
    form = client.post("/api/v1/plan", data={"model": "qwen3-8b"})
    assert form.status_code == 403
    assert form.json()["error"] == "csrf"
    bare = client.post("/api/v1/plan", content=b"{}", headers={"Content-Type": "text/plain"})
    assert bare.status_code == 403
    cross = client.post("/api/v1/plan", json=PLAN, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    page = client.get("/")
    assert client.cookies.get("kubefoundry_session")  # a session just for the CSRF secret
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    csrf = token.group(1) if token else _csrf(client.get("/login", follow_redirects=True).text)
    with_cookie = client.post("/api/v1/plan", json=PLAN, headers={"X-CSRF-Token": csrf})
    assert with_cookie.status_code == 200
    assert client.get("/login", follow_redirects=False).status_code == 303  # nothing to sign


def test_the_token_never_appears_in_an_answer_a_cookie_or_the_log(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    form = client.get("/login")
    for answer in (
        form,
        client.post("/login", data={"token": CANARY + "x", "csrf": _csrf(form.text)}),
        client.get("/api/v1/gpus", headers={"Authorization": f"Bearer {CANARY}x"}),
        client.get("/api/v1/gpus", headers=BEARER),
        client.post("/login", data={"token": CANARY, "csrf": _csrf(form.text)}),
        client.get("/"),
        client.post("/api/v1/plan", json=PLAN),
    ):
        seen += [answer.text, *(f"{k}: {v}" for k, v in answer.headers.items())]
    seen += [f"{c.name}={c.value}" for c in client.cookies.jar]
    seen += [r.getMessage() for r in caplog.records]
    assert seen
    assert not [s for s in seen if CANARY in s]


def test_sessions_expire_and_the_store_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    guard = auth.Guard(auth.Mode.TOKEN, token=CANARY, clock=lambda: now[0])
    session, principal, ttl = guard.sign_in(CANARY)
    assert guard.session(session) == principal
    assert ttl == auth.SESSION_TTL_S
    now[0] += auth.SESSION_TTL_S + 1
    assert guard.session(session) is None
    monkeypatch.setattr(auth, "MAX_ENTRIES", 3)
    made = [guard.sign_in(CANARY)[0] for _ in range(5)]
    assert [guard.session(s) is not None for s in made] == [False, False, True, True, True]


def test_a_kubernetes_session_ends_when_its_token_does() -> None:
    """A session made from a service-account token (a JWT) outlives it by no second."""
    import base64
    import json
    import time

    def jwt(exp: float) -> str:
        claims = base64.urlsafe_b64encode(json.dumps({"exp": exp}).encode()).decode()
        return f"e30.{claims.rstrip('=')}.c2ln"

    user = auth.reviews.User(name="alice")
    guard = auth.Guard(auth.Mode.KUBERNETES, review=lambda _: auth.reviews.Verdict(user))
    _, principal, ttl = guard.sign_in(jwt(time.time() + 600))
    assert principal.user == user
    assert 590 < ttl <= 600
    assert guard.sign_in("opaque-not-a-jwt")[2] == auth.SESSION_TTL_S


@pytest.mark.parametrize(
    ("args", "wanted"),
    [
        ({"auth": None, "host": "127.0.0.1", "token": None}, serve_cmd.Auth.NONE),
        ({"auth": None, "host": "0.0.0.0", "token": None}, serve_cmd.Auth.TOKEN),
        ({"auth": None, "host": "127.0.0.1", "token": "t"}, serve_cmd.Auth.TOKEN),
        ({"auth": serve_cmd.Auth.KUBERNETES, "host": "::", "token": None}, "kubernetes"),
        ({"auth": serve_cmd.Auth.NONE, "host": "0.0.0.0", "token": None}, "loopback only"),
        ({"auth": serve_cmd.Auth.NONE, "host": "localhost", "token": "t"}, "--auth token"),
        ({"auth": serve_cmd.Auth.KUBERNETES, "host": "::", "token": "t"}, "drop --token"),
    ],
)
def test_serve_picks_the_mode_or_refuses_an_unsafe_one(
    args: dict[str, object], wanted: object
) -> None:
    import typer

    if isinstance(wanted, serve_cmd.Auth) or wanted == "kubernetes":
        assert serve_cmd._mode(no_cluster=False, **args) == wanted
        return
    with pytest.raises(typer.BadParameter, match=str(wanted)):
        serve_cmd._mode(no_cluster=False, **args)


def test_the_served_process_never_logs_the_token() -> None:
    """The real ``kubefoundry serve`` (token from the environment, so it prints none): the
    right token, a wrong one and none; neither its answers nor its output carry the token."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubefoundry.cli", "serve", "--port", str(port), "--no-cluster"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"KUBEFOUNDRY_TOKEN": CANARY, "COLUMNS": "200"},
    )
    url = f"http://127.0.0.1:{port}"
    codes, bodies = [], []
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1).close()
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        for token in (CANARY, CANARY + "x", None):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            request = urllib.request.Request(f"{url}/api/v1/gpus", headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    codes.append(answer.status)
                    bodies.append(answer.read().decode())
            except urllib.error.HTTPError as refused:
                codes.append(refused.code)
                bodies.append(refused.read().decode())
                refused.close()
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert codes == [200, 401, 401]
    assert "KubeFoundry on" in err
    assert CANARY not in out + err
    assert not [b for b in bodies if CANARY in b]
