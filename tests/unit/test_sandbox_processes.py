"""The sandbox's processes: detached ones outlive their starter and are stopped by pid from
the state file; the test suite's die with the process that started them, even when it is
killed."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kubefoundry.sandbox import processes

SLEEP = shutil.which("sleep") or "/bin/sleep"


def started_by_a_killed_parent(tmp_path: Path, *, outlive: bool) -> processes.Process:
    """Start ``sleep`` from a child Python, SIGKILL that child, return the sleeper."""
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from kubefoundry.sandbox import processes
        p = processes.start(
            "sleeper", [{SLEEP!r}, "60"], log=Path({str(tmp_path / "log")!r}),
            outlive_parent={outlive},
        )
        print(p.pid, flush=True)
        time.sleep(60)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        parent.kill()
    return processes.Process.from_dict(
        {"name": "sleeper", "pid": pid, "binary": SLEEP, "log": str(tmp_path / "log")}
    )


def gone(proc: processes.Process, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while processes.alive(proc):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_process_tied_to_its_parent_dies_with_it(tmp_path: Path) -> None:
    assert gone(started_by_a_killed_parent(tmp_path, outlive=False))


def test_a_detached_process_outlives_its_parent_and_stops_by_pid(tmp_path: Path) -> None:
    sleeper = started_by_a_killed_parent(tmp_path, outlive=True)
    try:
        time.sleep(0.5)
        assert processes.alive(sleeper)
    finally:
        processes.stop(sleeper, grace_s=5)
    assert gone(sleeper, timeout_s=1)


def test_a_pid_now_running_another_program_is_not_ours(tmp_path: Path) -> None:
    with subprocess.Popen([SLEEP, "60"]) as other:
        try:
            imposter = processes.Process("etcd", other.pid, "/not/the/binary", tmp_path / "log")
            assert not processes.alive(imposter)
            processes.stop(imposter, grace_s=1)  # must not signal it
            assert other.poll() is None
        finally:
            other.kill()


def test_free_ports_are_distinct_and_outside_the_ephemeral_range() -> None:
    """bind(0) ports come from the range outgoing connections use, and were taken from under
    a starting sandbox; these are not."""
    low, high = processes.PORT_RANGE
    ports = processes.free_ports(40)
    assert len(set(ports)) == 40
    assert all(low <= p < high for p in ports)
    assert high <= 32768  # Linux's ip_local_port_range starts there by default
