"""The real ``kubefoundry`` command in a subprocess, as the CLI tests run it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def kubefoundry(
    *args: str,
    columns: int = 200,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m kubefoundry.cli ARGS``: text output captured, ``stdin`` as its input
    (empty: at end of file at once), a terminal ``columns`` wide, ``env`` laid over ours."""
    return subprocess.run(
        [sys.executable, "-m", "kubefoundry.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        cwd=cwd,
        env=os.environ | {"COLUMNS": str(columns)} | dict(env or {}),
        timeout=120,
        check=False,
    )
