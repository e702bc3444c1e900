"""What the browser tests share: Debian's Chromium, a real ``kubefoundry serve`` process on a
free port, and the README's screenshots (written only with KUBEFOUNDRY_SCREENSHOTS=1)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[str]) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise AssertionError(f"kubefoundry serve exited: {proc.communicate()[1][-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError("kubefoundry serve did not answer within 30 s")


@contextlib.contextmanager
def serving(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``kubefoundry serve --port P *args`` running; yields its URL. Its stderr (what it
    printed) is checked by the callers that need it through ``served_output``."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubefoundry.cli", "serve", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"COLUMNS": "200"} | (env or {}),
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.communicate(timeout=10)  # reads and closes its pipes


def shots(page: Any, name: str, shoot: bool) -> None:
    """The page in light and dark, when asked for (the tree stays as it is in CI)."""
    if not shoot:
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.screenshot(path=str(SHOTS / f"{name}-{scheme}.png"), full_page=False)
    page.emulate_media(color_scheme="light")
