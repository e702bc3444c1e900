"""The sandbox started from the web page, and where the server acts (issue 10, the main job).

The job's bookkeeping (one start at a time, its progress, failures, stop) runs against
``FakeSandbox``, a fake of ``sandbox.managing``'s ``up``/``down``/``status``: a real start takes
seconds to minutes and is exercised in
``tests/integration/test_sandbox_started_by_api.py``. Go missing is the real check with an
empty PATH; ``kubefoundry serve`` with no kubeconfig is the real process. The panel fragment
is rendered from the real template.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
from fastapi.testclient import TestClient
from tests.support.fake_sandbox import SCRIPT, FakeSandbox
from tests.support.rendering import CANARY

from kubefoundry.api import sandbox as sandbox_api
from kubefoundry.api import sse
from kubefoundry.api.app import create_app
from kubefoundry.api.sandbox_job import Progress, State
from kubefoundry.cluster.connecting import Target
from kubefoundry.core.errors import PermanentError
from kubefoundry.sandbox import components


@pytest.fixture
def no_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A machine with no kubeconfig and no sandbox: KUBECONFIG names a file that is not
    there, the sandbox's state folder is empty."""
    missing = tmp_path / "nothing" / "config"
    monkeypatch.setenv("KUBECONFIG", str(missing))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return missing


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeSandbox]:
    made = FakeSandbox(tmp_path)
    yield made
    made.release.set()  # a test that failed halfway leaves no thread waiting


@pytest.fixture
def client(no_kubeconfig: Path, fake: FakeSandbox) -> Iterator[TestClient]:
    app = create_app(cluster=Target())
    fake.job(app)
    with TestClient(app) as test_client:
        yield as_the_page(test_client)


def as_the_page(client: TestClient) -> TestClient:
    """``client`` sending what the panel's script sends: the session cookie a page set and
    the CSRF token from that page's ``<meta name="csrf-token">``."""
    page = client.get("/")
    assert page.status_code == 200, page.text
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert found, "the page carries no CSRF token for its scripts"
    client.headers["X-CSRF-Token"] = found[1]
    return client


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not after {timeout_s:.0f}s: {what}"
        time.sleep(0.02)


def state_of(client: TestClient) -> dict[str, Any]:
    answer = client.get("/api/v1/sandbox")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def events(text: str) -> list[tuple[str, dict[str, Any], str | None]]:
    """(name, data, id) of each event in a text/event-stream body; comments skipped."""
    found = []
    for block in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":")
        )
        if fields:
            found.append((fields["event"], json.loads(fields["data"]), fields.get("id")))
    return found


# --- the job -----------------------------------------------------------------------------


def test_a_start_runs_in_the_background_and_a_second_post_joins_it(
    client: TestClient, fake: FakeSandbox
) -> None:
    first = client.post("/api/v1/sandbox")
    assert first.status_code == 202, first.text
    assert first.json()["state"] == "building"
    wait_for(lambda: "building testcluster" in json.dumps(state_of(client)), "the build's line")

    again = client.post("/api/v1/sandbox")
    assert again.status_code == 202
    assert again.json()["state"] == "building"
    assert fake.calls == ["start"]

    fake.release.set()
    wait_for(lambda: state_of(client)["state"] == "running", "running")
    done = state_of(client)
    assert done["server"] == fake.server
    assert done["kubeconfig"] == str(fake.kubeconfig)
    assert done["error"] is None
    assert done["elapsed_s"] >= 0
    stages = [line["stage"] for line in done["lines"]]
    assert stages[0] == "building"
    assert "starting" in stages
    assert stages[-1] == "running"

    third = client.post("/api/v1/sandbox")
    assert third.status_code == 200
    assert third.json()["state"] == "running"
    assert fake.calls == ["start"]
    assert client.app.state.cluster.target == Target(kubeconfig=fake.kubeconfig)  # type: ignore[attr-defined]


def test_a_sandbox_already_up_is_adopted_not_started(client: TestClient, fake: FakeSandbox) -> None:
    """Started in a terminal (`kubefoundry sandbox up`): shown as running, and POST uses it."""
    fake.running = True
    assert state_of(client)["state"] == "running"
    answer = client.post("/api/v1/sandbox")
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "running"
    assert fake.calls == ["adopt"]
    connection = client.get("/api/v1/cluster/connection").json()
    assert connection["kubeconfig"] == str(fake.kubeconfig)


def test_the_stream_follows_the_start_to_done(client: TestClient, fake: FakeSandbox) -> None:
    assert client.post("/api/v1/sandbox").status_code == 202
    threading.Timer(0.5, fake.release.set).start()  # released while the stream is open
    with client.stream("GET", "/api/v1/sandbox/stream") as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        assert answer.headers["cache-control"] == "no-cache"
        body = "".join(answer.iter_text())
    seen = events(body)
    *progress, (last, done, _) = seen
    assert last == "done"
    assert done["state"] == "running"
    assert {name for name, _, _ in progress} == {"progress"}
    assert [int(i or -1) for _, _, i in progress] == list(range(len(progress)))
    assert all(set(data) == {"line", "stage", "elapsed_s"} for _, data, _ in progress)
    lines = [data["line"] for _, data, _ in progress]
    assert lines == [line["line"] for line in done["lines"]]
    # 500 package lines in a burst become one counted line; the cache path is left out.
    assert len(progress) < 12, lines
    assert "building testcluster from Go modules (first run only; minutes)..." in lines
    assert "building testcluster: 1 Go package compiled" in lines
    assert not [line for line in lines if "/cache/bin" in line or "k8s.io/" in line]


def test_a_reconnecting_stream_resumes_after_the_last_event_it_had(
    client: TestClient, fake: FakeSandbox
) -> None:
    fake.release.set()
    client.post("/api/v1/sandbox")
    wait_for(lambda: state_of(client)["state"] == "running", "running")
    everything = events(client.get("/api/v1/sandbox/stream").text)
    resumed = events(client.get("/api/v1/sandbox/stream", headers={"Last-Event-ID": "2"}).text)
    assert resumed == everything[3:]
    # "²": a digit to str.isdigit, not to int
    nonsense = client.get("/api/v1/sandbox/stream", headers=[(b"Last-Event-ID", b"\xb2")])
    assert events(nonsense.text) == everything


def test_with_nothing_started_the_stream_is_done_at_once(client: TestClient) -> None:
    assert events(client.get("/api/v1/sandbox/stream").text) == [
        (
            "done",
            {
                "state": "idle",
                "lines": [],
                "elapsed_s": None,
                "error": None,
                "server": None,
                "kubeconfig": None,
            },
            None,
        )
    ]


def test_a_failed_start_says_why_and_how_to_fix_it_and_may_be_tried_again(
    client: TestClient, fake: FakeSandbox
) -> None:
    fake.fail = PermanentError(
        "Building the sandbox failed (exit 1): go: module lookup disabled",
        hint="Run scripts/testcluster-build in the checkout to see the whole output.",
    )
    fake.release.set()
    assert client.post("/api/v1/sandbox").status_code == 202
    wait_for(lambda: state_of(client)["state"] == "failed", "failed")
    failed = state_of(client)
    assert failed["error"] == {
        "message": "Building the sandbox failed (exit 1): go: module lookup disabled",
        "hint": "Run scripts/testcluster-build in the checkout to see the whole output.",
    }
    assert failed["lines"][-1]["stage"] == "failed"
    (done,) = [
        data
        for name, data, _ in events(client.get("/api/v1/sandbox/stream").text)
        if name == "done"
    ]
    assert done["state"] == "failed"
    assert client.get("/api/v1/cluster/connection").json()["sandbox"]["error"] == failed["error"]

    fake.fail = None
    assert client.post("/api/v1/sandbox").status_code == 202
    wait_for(lambda: state_of(client)["state"] == "running", "running after a retry")
    assert state_of(client)["error"] is None


def test_an_unexpected_error_fails_the_start_not_the_server(
    client: TestClient, fake: FakeSandbox
) -> None:
    fake.fail = OSError(28, "No space left on device")
    fake.release.set()
    client.post("/api/v1/sandbox")
    wait_for(lambda: state_of(client)["state"] == "failed", "failed")
    error = state_of(client)["error"]
    assert error["message"] == (
        "The sandbox did not start: OSError: [Errno 28] No space left on device"
    )
    assert "kubefoundry sandbox up" in error["hint"]
    assert "Traceback" not in json.dumps(state_of(client))


def test_stopping_it_leaves_the_app_with_no_cluster_again(
    client: TestClient, fake: FakeSandbox, no_kubeconfig: Path
) -> None:
    before = client.get("/api/v1/cluster/connection").json()
    assert before["connected"] is False
    assert before["offer_sandbox"] is True
    assert f"no kubeconfig at {no_kubeconfig} (KUBECONFIG)" in before["problem"]

    fake.release.set()
    client.post("/api/v1/sandbox")
    wait_for(lambda: state_of(client)["state"] == "running", "running")
    # The fake's server is not there: the app acts on it and says it cannot reach which one.
    on_it = client.get("/api/v1/cluster/connection").json()
    assert on_it["connected"] is False
    assert on_it["kubeconfig"] == str(fake.kubeconfig)
    assert on_it["context"] == components.CONTEXT
    assert on_it["server"] == fake.server
    assert f"Cannot reach the Kubernetes API server {fake.server}" in on_it["problem"]
    refused = client.get("/api/v1/cluster")
    assert refused.status_code == 503
    assert fake.server in refused.json()["message"]

    stopped = client.delete("/api/v1/sandbox")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["stopped"] is True
    assert stopped.json()["state"] == "idle"
    assert client.app.state.cluster.target == Target()  # type: ignore[attr-defined]
    assert client.get("/api/v1/cluster/connection").json() == before
    again = client.delete("/api/v1/sandbox")
    assert again.status_code == 200
    assert again.json()["stopped"] is False


def test_it_cannot_be_stopped_while_it_starts(client: TestClient, fake: FakeSandbox) -> None:
    client.post("/api/v1/sandbox")
    refused = client.delete("/api/v1/sandbox")
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "5"
    assert refused.json()["message"].startswith("The sandbox is still building")
    assert fake.running is False
    assert state_of(client)["state"] == "building"


def test_a_sandbox_whose_processes_died_shows_as_failed(
    client: TestClient, fake: FakeSandbox
) -> None:
    fake.release.set()
    client.post("/api/v1/sandbox")
    wait_for(lambda: state_of(client)["state"] == "running", "running")
    fake.running = False  # `kubefoundry sandbox down` in a terminal, or a reboot
    gone = state_of(client)
    assert gone["state"] == "failed"
    assert (
        gone["error"]["message"] == "The sandbox is not running any more (its processes stopped)."
    )


def test_no_answer_carries_the_sandboxs_token(client: TestClient, fake: FakeSandbox) -> None:
    fake.release.set()
    said = [client.post("/api/v1/sandbox").text]
    wait_for(lambda: state_of(client)["state"] == "running", "running")
    for path in ("/api/v1/sandbox", "/api/v1/sandbox/stream", "/api/v1/cluster/connection"):
        said.append(client.get(path).text)
    said.append(client.delete("/api/v1/sandbox").text)
    assert CANARY in fake.kubeconfig.read_text()
    assert not [text for text in said if CANARY in text]


# --- Go missing, --no-cluster, a kubeconfig that cannot be used ---------------------------


def test_without_go_the_start_is_refused_saying_how_to_install_it(
    no_kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    client = as_the_page(TestClient(create_app(cluster=Target())))  # the real up and checks
    refused = client.post("/api/v1/sandbox")
    assert refused.status_code == 400, refused.text
    body = refused.json()
    assert "needs the Go toolchain; `go` is not on PATH" in body["message"]
    assert "https://go.dev/dl/" in body["hint"]
    assert state_of(client)["state"] == "idle"
    offer = client.get("/api/v1/cluster/connection").json()["sandbox"]
    assert offer["available"] is False
    assert "https://go.dev/dl/" in offer["unavailable"]


def test_a_server_started_with_no_cluster_starts_no_sandbox() -> None:
    client = as_the_page(TestClient(create_app()))  # `kubefoundry serve --no-cluster`
    for method in ("POST", "DELETE"):
        refused = client.request(method, "/api/v1/sandbox")
        assert refused.status_code == 400, refused.text
        assert "--no-cluster" in refused.json()["message"]
    connection = client.get("/api/v1/cluster/connection").json()
    assert connection["connected"] is False
    assert connection["offer_sandbox"] is False
    assert "--no-cluster" in connection["problem"]


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("clusters: [\n", "is not valid YAML (line 2)"),
        ("apiVersion: v1\nkind: Config\ncontexts: []\n", "has no contexts"),
    ],
    ids=["not-yaml", "no-contexts"],
)
def test_a_kubeconfig_that_cannot_be_used_is_named_with_what_is_wrong(
    tmp_path: Path, content: str, said: str
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(content)
    client = TestClient(create_app(cluster=Target(kubeconfig=path)))
    connection = client.get("/api/v1/cluster/connection").json()
    assert connection["connected"] is False
    assert connection["kubeconfig"] == str(path)
    assert f"{path} {said}" in connection["problem"]


# --- the pieces: progress, SSE framing ------------------------------------------------------


def test_progress_counts_go_packages_at_most_every_two_seconds() -> None:
    now = [0.0]
    said: list[tuple[str, State]] = []
    progress = Progress(lambda line, stage: said.append((line, stage)), clock=lambda: now[0])
    progress.build_line(
        f"{SCRIPT}building kwok into /c/bin/kwok-v0.7.0-1 (first run only; minutes)..."
    )
    for n in range(1000):
        now[0] = n * 0.01  # 1,000 packages in 10 s
        progress.build_line(f"sigs.k8s.io/kwok/pkg/p{n}")
    progress.build_line(f"{SCRIPT}kwok: Elapsed (wall clock) time (h:mm:ss or m:ss): 0:10.01")
    progress.build_line("")
    progress.say("etcd ready")
    lines = [line for line, _ in said]
    assert lines[0] == "building kwok from Go modules (first run only; minutes)..."
    counted = [line for line in lines if "compiled" in line]
    assert counted[0] == "building kwok: 1 Go package compiled"
    assert counted[1] == "building kwok: 201 Go packages compiled"
    assert len(counted) == 5  # at 0, 2, 4, 6 and 8 s
    assert lines[-2:] == [
        "kwok: Elapsed (wall clock) time (h:mm:ss or m:ss): 0:10.01",
        "etcd ready",
    ]
    assert {stage for _, stage in said[:-1]} == {State.BUILDING}
    assert said[-1][1] is State.STARTING


def test_an_event_is_one_named_json_line_with_its_id() -> None:
    assert sse.event("progress", {"line": "a\nb", "n": 1}, id=7) == (
        'event: progress\ndata: {"line":"a\\nb","n":1}\nid: 7\n\n'
    )
    assert sse.event("done", None) == "event: done\ndata: null\n\n"
    with pytest.raises(ValueError, match="one word"):
        sse.event("two\nlines", {})


def test_a_quiet_stream_gets_keepalive_comments_between_its_events() -> None:
    async def slow() -> Any:
        yield "first"
        await asyncio.sleep(0.35)
        yield "second"

    async def collect() -> list[str]:
        return [item async for item in sse.with_keepalive(slow(), every_s=0.1)]

    got = asyncio.run(collect())
    assert (got[0], got[-1]) == ("first", "second")
    assert set(got[1:-1]) == {sse.KEEPALIVE}
    assert 2 <= len(got) - 2 <= 4


# --- the page fragment ---------------------------------------------------------------------


def panel(connection: dict[str, Any] | None) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kubefoundry.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    context = {} if connection is None else {"connection": connection}
    return env.get_template("_connection.html").render(context)


def test_the_panel_offers_the_sandbox_and_a_kubeconfig_when_there_is_no_cluster(
    client: TestClient,
) -> None:
    html = panel(client.get("/api/v1/cluster/connection").json())
    assert 'data-kf-sandbox="start">Start a sandbox</button>' in html
    assert "kubefoundry serve --kubeconfig PATH" in html
    assert 'role="status" aria-live="polite"' in html
    assert '<script src="/static/sandbox.js" defer></script>' in html


def test_the_panel_says_why_the_sandbox_cannot_start(client: TestClient) -> None:
    connection = client.get("/api/v1/cluster/connection").json()
    connection["sandbox"] |= {"available": False, "unavailable": "Install Go: https://go.dev/dl/"}
    html = panel(connection)
    assert "data-kf-sandbox=" not in html
    assert "The sandbox cannot start here: Install Go: https://go.dev/dl/" in html


def test_the_panel_on_the_sandbox_offers_to_stop_it() -> None:
    html = panel(
        {
            "connected": True,
            "source": "sandbox",
            "context": components.CONTEXT,
            "server": "https://127.0.0.1:6443",
            "version": "v1.34.3",
            "kubeconfig": "/k",
            "problem": None,
            "offer_sandbox": False,
            "sandbox": {"state": "running", "available": True, "unavailable": None, "error": None},
        }
    )
    assert "Deploying to the local sandbox" in html
    assert "(Kubernetes v1.34.3)" in html
    assert 'data-kf-sandbox="stop"' in html
    assert 'data-kf-sandbox="start"' not in html
    assert panel(None).strip() == ""  # a page without the context shows no panel


def test_a_start_from_a_page_without_its_csrf_token_is_refused(client: TestClient) -> None:
    token = client.headers.pop("X-CSRF-Token")
    refused = client.post("/api/v1/sandbox")
    assert refused.status_code == 403
    assert refused.json()["error"] == "csrf"
    assert state_of(client)["state"] == "idle"
    assert client.post("/api/v1/sandbox", headers={"X-CSRF-Token": token}).status_code == 202


def test_the_script_sends_the_pages_csrf_token_and_follows_the_stream() -> None:
    script = (
        Path(sandbox_api.__file__).parent.parent / "web" / "static" / "sandbox.js"
    ).read_text()
    assert "meta[name=csrf-token]" in script
    assert '"X-CSRF-Token"' in script
    assert 'new EventSource(API + "/stream")' in script
    assert not re.search(r"https?://", script)  # nothing from elsewhere


# --- kubefoundry serve on a machine with no cluster ------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_with_no_kubeconfig_starts_opens_the_catalog_and_says_how_to_get_a_cluster(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBEFOUNDRY_TOKEN")}
    env |= {"HOME": str(home), "XDG_STATE_HOME": str(tmp_path / "state"), "COLUMNS": "200"}
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubefoundry.cli", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        with urllib.request.urlopen(f"{url}/", timeout=30) as page:
            assert page.status == 200
        with urllib.request.urlopen(f"{url}/api/v1/cluster/connection", timeout=30) as answer:
            connection = json.loads(answer.read())
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert connection["connected"] is False
    assert connection["offer_sandbox"] is True
    assert f"no kubeconfig at {home}/.kube/config (the default location)" in connection["problem"]
    said = " ".join(err.split())
    assert f"No kubeconfig at {home}/.kube/config (the default location)" in said
    assert "start the sandbox from the page" in said
    assert "--kubeconfig PATH" in said
    assert "Traceback" not in err
