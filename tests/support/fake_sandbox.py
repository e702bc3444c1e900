"""A fake of ``sandbox.managing``'s ``up``/``down``/``status`` for the tests of the sandbox
started from the web page: a real start takes seconds to minutes (the integration test
``tests/integration/test_sandbox_started_by_api.py`` makes one), the job's bookkeeping does
not need it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from tests.support import endpoints
from tests.support.rendering import CANARY

from kubefoundry.sandbox import components, managing, running

SCRIPT = "scripts/testcluster-build: "


class FakeSandbox:
    """A fake of ``managing.up/down/status``: ``up`` says what a first build says, waits for
    ``release``, then is up, with a kubeconfig for a server that is not there (so the app's
    connection, pointed at it, reports it unreachable: no server answers in these tests)."""

    def __init__(self, folder: Path, *, fail: BaseException | None = None) -> None:
        self.release = threading.Event()
        self.fail = fail
        self.calls: list[str] = []
        self.running = False
        self.server = f"https://127.0.0.1:{endpoints.closed_port()}"
        self.kubeconfig = endpoints.kubeconfig(
            folder / "sandbox-kubeconfig",
            self.server,
            context=components.CONTEXT,
            namespace="default",
            user={"token": CANARY},
        )

    def up(self, *, on_build_output: Any = None, say: Any = None, **_: Any) -> managing.Up:
        adopting = on_build_output is None
        self.calls.append("adopt" if adopting else "start")
        if not adopting:
            on_build_output(
                f"{SCRIPT}building testcluster into /cache/bin/tc-1 (first run only; minutes)..."
            )
            for n in range(500):
                on_build_output(f"k8s.io/kubernetes/pkg/p{n}")
            assert self.release.wait(20), "the test never released the fake start"
            say("etcd ready")
            say("kube-apiserver ready")
        if self.fail is not None:
            raise self.fail
        self.running = True
        sandbox = running.Sandbox(
            workdir=self.kubeconfig.parent,
            server=self.server,
            token=CANARY,
            ca_file=self.kubeconfig.parent / "ca.crt",
            kubeconfig=self.kubeconfig,
            processes=(),
            nodes=("fake-node",),
        )
        return managing.Up(sandbox, already=adopting, kubeconfig=self.kubeconfig)

    def down(self) -> object | None:
        was, self.running = self.running, False
        return object() if was else None

    def status(self) -> dict[str, Any]:
        if not self.running:
            return {"state": "down"}
        return {"state": "up", "server": self.server, "kubeconfig": str(self.kubeconfig)}

    def job(self, app: Any) -> Any:
        """Give ``app`` a sandbox job that starts this fake (the checks for Go pass)."""
        from kubefoundry.api.sandbox_job import Job

        app.state.sandbox = Job(
            app.state.cluster, up=self.up, down=self.down, status=self.status, check=lambda: None
        )
        return app.state.sandbox
