"""The sandbox started from the web page: one background start at a time, its progress kept.

``kubefoundry sandbox up`` blocks a terminal for seconds (minutes the first time, while
Kubernetes is built from Go modules); a page cannot. ``Job.start`` runs ``managing.up`` in a
thread and returns at once; the page follows ``lines`` (over server-sent events) until the job
is running or failed, and the app's one cluster connection is then pointed at the sandbox's
kubeconfig (``ClusterHolder.switch``). A second start while one runs joins it; a sandbox
already up (``kubefoundry sandbox up`` in a terminal) is adopted instead of started.

``go build -v`` names every package it compiles, thousands of lines: they are counted, and a
line saying how far the build is goes out at most every ``Progress.EVERY_S``.

Nothing here knows HTTP: the router (``api/sandbox.py``) words the answers.
"""

from __future__ import annotations

import enum
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from kubefoundry.api.deps import ClusterHolder
from kubefoundry.cluster.connecting import Target
from kubefoundry.core import naming
from kubefoundry.core.errors import InvalidInputError, KubeFoundryError, RetryableError
from kubefoundry.sandbox import building, managing

log = logging.getLogger(__name__)

MAX_LINES = 1000  # kept for a page that joins late; a summarised first build makes ~200


class State(enum.StrEnum):
    IDLE = "idle"
    BUILDING = "building"
    STARTING = "starting"
    RUNNING = "running"
    FAILED = "failed"

    @property
    def is_busy(self) -> bool:
        return self in (State.BUILDING, State.STARTING)


def preflight() -> None:
    """What the sandbox needs before anything starts: Go on PATH and a KubeFoundry checkout
    (it builds from ``hack/testcluster``); each missing one is an error saying how to fix it."""
    building.require_go()
    building.checkout()


class Job:
    """The sandbox this application starts, stops and reports; one per application.

    ``up``, ``down``, ``status`` and ``check`` are ``sandbox.managing``'s and ``preflight``;
    tests replace ``up`` where building and starting for real would take minutes.
    """

    def __init__(
        self,
        holder: ClusterHolder,
        *,
        up: Callable[..., managing.Up] = managing.up,
        down: Callable[[], Any] = managing.down,
        status: Callable[[], dict[str, Any]] = managing.status,
        check: Callable[[], None] = preflight,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.holder = holder
        self.enabled = holder.target is not None  # `serve --no-cluster` acts on no cluster
        self._up, self._down, self._status, self._check = up, down, status, check
        self._clock = clock
        self._lock = threading.Lock()
        self._state = State.IDLE
        self._lines: list[dict[str, Any]] = []
        self._first = 0  # the index of _lines[0] (older lines dropped past MAX_LINES)
        self._began: float | None = None
        self._ended: float | None = None
        self._error: dict[str, str | None] | None = None
        self._done: managing.Up | None = None
        self._previous: Target | None = None  # where the app acted before the sandbox
        self._switched = False

    # --- what the routes call -------------------------------------------------------------

    def start(self) -> bool:
        """Start the sandbox in the background; False when it already runs (or was adopted)
        and nothing was started. A start under way is joined (True)."""
        self._refuse_without_cluster()
        with self._lock:
            if self._state.is_busy:
                return True
            if self._state is State.RUNNING and self._status().get("state") == "up":
                return False
        self._check()
        if self._status().get("state") == "up":
            self._adopt()
            return False
        with self._lock:
            if self._state.is_busy:  # another request started it meanwhile
                return True
            self._reset(State.BUILDING)
            self._began = self._clock()
            self._add(
                "checking the Kubernetes binaries (built from Go modules on first use: several "
                "minutes; cached after)",
                State.BUILDING,
            )
        threading.Thread(target=self._run, name="kubefoundry-sandbox", daemon=True).start()
        return True

    def stop(self) -> bool:
        """Stop the sandbox (``managing.down``) and act where the app did before; whether
        there was one to stop."""
        self._refuse_without_cluster()
        with self._lock:
            if self._state.is_busy:
                raise RetryableError(
                    f"The sandbox is still {self._state.value}; it can be stopped once it is "
                    "up or has failed.",
                    delay_s=5,
                    hint="Wait for its progress to finish, then stop it.",
                )
        stopped = self._down()
        with self._lock:
            previous, switched = self._previous, self._switched
            self._reset(State.IDLE)
        # Back to the cluster the app had; without a switch, drop a connection to a dead one.
        self.holder.switch(previous if switched else self.holder.target)
        return stopped is not None

    def snapshot(self) -> dict[str, Any]:
        """The job as the API shows it; a sandbox up on this machine but not started here
        shows as running (starting it adopts it)."""
        with self._lock:
            state, lines = self._state, list(self._lines)
            began, ended, error, done = self._began, self._ended, self._error, self._done
        server = done.sandbox.server if done else None
        kubeconfig = str(done.kubeconfig) if done else None
        if state is State.IDLE:
            found = self._status()
            if found.get("state") == "up":
                state, server, kubeconfig = State.RUNNING, found["server"], found["kubeconfig"]
        return {
            "state": state.value,
            "lines": lines,
            "elapsed_s": None if began is None else round((ended or self._clock()) - began, 1),
            "error": error,
            "server": server,
            "kubeconfig": kubeconfig,
        }

    def refresh(self) -> None:
        """A sandbox this job started whose processes are gone (killed, `sandbox down` in a
        terminal) is failed, saying so."""
        with self._lock:
            if self._state is not State.RUNNING:
                return
        if self._status().get("state") == "up":
            return
        with self._lock:
            if self._state is State.RUNNING:
                self._fail(
                    "The sandbox is not running any more (its processes stopped).",
                    "Start it again; `kubefoundry sandbox status` shows its logs.",
                )

    def since(self, index: int) -> tuple[list[tuple[int, dict[str, Any]]], bool]:
        """The progress lines from ``index`` on (with their indexes), and whether more may
        come (the job is busy); read together, so no line can follow a 'no more'."""
        with self._lock:
            start = max(index, self._first)
            lines = self._lines[start - self._first :]
            return list(enumerate(lines, start=start)), self._state.is_busy

    def availability(self) -> str | None:
        """Why the sandbox cannot start on this server (its message and fix), else None."""
        if not self.enabled:
            return "This server was started with --no-cluster."
        try:
            self._check()
        except KubeFoundryError as exc:
            return str(exc)
        return None

    # --- the background start ---------------------------------------------------------------

    def _run(self) -> None:
        progress = Progress(self._add_locked, clock=self._clock)
        try:
            done = self._up(on_build_output=progress.build_line, say=progress.say)
        except KubeFoundryError as exc:
            with self._lock:
                self._fail(exc.message, exc.hint)
            return
        except Exception as exc:  # a bug or the OS: said on the page, the traceback logged
            log.exception("the sandbox did not start")
            with self._lock:
                self._fail(
                    f"The sandbox did not start: {type(exc).__name__}: {exc}",
                    "The server's log has the details; `kubefoundry sandbox up` in a terminal "
                    "shows the same start step by step.",
                )
            return
        self._use(done)

    def _adopt(self) -> None:
        """Use the sandbox already up on this machine (``up`` finds it and returns)."""
        done = self._up()
        with self._lock:
            self._reset(State.STARTING)
            self._began = self._clock()
        self._use(done)

    def _use(self, done: managing.Up) -> None:
        with self._lock:
            if not self._switched:
                self._previous, self._switched = self.holder.target, True
        self.holder.switch(Target(kubeconfig=done.kubeconfig))
        with self._lock:
            self._done = done
            word = "already up" if done.already else "up"
            self._add(f"sandbox {word}: {done.sandbox.server}", State.RUNNING)
            self._state, self._ended = State.RUNNING, self._clock()

    # --- bookkeeping (callers hold the lock) ------------------------------------------------

    def _reset(self, state: State) -> None:
        if self._done is not None:
            _reap(self._done)
        self._state, self._lines, self._first = state, [], 0
        self._began = self._ended = None
        self._error, self._done = None, None
        if state is State.IDLE:
            self._previous, self._switched = None, False

    def _add(self, line: str, stage: State) -> None:
        elapsed = 0.0 if self._began is None else round(self._clock() - self._began, 1)
        self._lines.append({"line": line, "stage": stage.value, "elapsed_s": elapsed})
        if len(self._lines) > MAX_LINES:
            del self._lines[0]
            self._first += 1
        if self._state.is_busy and stage.is_busy:
            self._state = stage

    def _add_locked(self, line: str, stage: State) -> None:
        with self._lock:
            self._add(line, stage)

    def _fail(self, message: str, hint: str | None) -> None:
        self._error = {"message": message, "hint": hint}
        self._add(message, State.FAILED)
        self._state, self._ended = State.FAILED, self._clock()

    def _refuse_without_cluster(self) -> None:
        if not self.enabled:
            raise InvalidInputError(
                "This server was started with --no-cluster: it plans and renders, and acts "
                "on no cluster, not even a sandbox.",
                hint="Restart `kubefoundry serve` without --no-cluster to start the sandbox "
                "from the page, or run `kubefoundry sandbox up` in a terminal.",
            )


def _reap(done: managing.Up) -> None:
    """Collect the exit of the sandbox's processes this server started (its children) once
    they are stopped, so none lingers as a zombie; a running one is left alone."""
    for proc in done.sandbox.processes:
        if proc.handle is not None:
            proc.handle.poll()


class Progress:
    """The build's and the start's lines, as the page shows them: the build script's own
    messages (less their prefix and the cache path), the Go packages counted, the start's
    steps as they are."""

    EVERY_S = 2.0  # between two "N packages compiled" lines
    PREFIX = f"{building.SCRIPT}: "
    BUILDING = re.compile(r"building (\S+) into \S+ (.*)")

    def __init__(
        self, emit: Callable[[str, State], None], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.emit, self.clock = emit, clock
        self.binary = "the sandbox"
        self.packages = 0
        self.last: float | None = None

    def build_line(self, line: str) -> None:
        if building.is_package(line):
            self.packages += 1
            now = self.clock()
            if self.last is None or now - self.last >= self.EVERY_S:
                self.last = now
                done = naming.counted(self.packages, "Go package")
                self.emit(f"building {self.binary}: {done} compiled", State.BUILDING)
            return
        text = line.removeprefix(self.PREFIX).strip()
        if not text:
            return
        found = self.BUILDING.fullmatch(text)
        if found:
            self.binary, self.packages, self.last = found[1], 0, None
            text = f"building {found[1]} from Go modules {found[2]}"
        self.emit(text, State.BUILDING)

    def say(self, line: str) -> None:
        self.emit(line, State.STARTING)
