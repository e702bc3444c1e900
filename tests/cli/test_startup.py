"""The command line answers in a blink: building it (what ``--help`` does) imports no part of
KubeFoundry's engine and none of the heavy libraries; each command imports what it needs when
it runs. ``bench/cli_startup.py`` prints the times; this test guards the cause."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "kubernetes",
    "kubernetes_validate",
    "jsonschema",
    "huggingface_hub",
    "pydantic",
    "yaml",
    "rich",
    "kubefoundry.catalog",
    "kubefoundry.planning",
    "kubefoundry.runtimes",
    "kubefoundry.checks",
    "kubefoundry.deploy",
    "kubefoundry.cluster",
    "kubefoundry.sandbox",
)

PROBE = """
import json, sys
import typer.main
from kubefoundry.cli.app import app
command = typer.main.get_command(app)
def walk(c):
    for child in (getattr(c, "commands", None) or {}).values():
        walk(child)
walk(command)
print(json.dumps(sorted(sys.modules)))
"""


def test_building_the_command_line_imports_nothing_heavy() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(done.stdout)
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
    assert heavy == []
