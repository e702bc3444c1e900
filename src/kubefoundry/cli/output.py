"""How the CLI talks to people: JSON for machines, Rich for humans, errors on stderr."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.text import Text

from kubefoundry.core.errors import KubeFoundryError

_stdout = Console(highlight=False, soft_wrap=False)
_stderr = Console(stderr=True, highlight=False)


def console() -> Console:
    return _stdout


def print_json(data: Any) -> None:
    # Plain print: Rich would wrap long lines and break the JSON for pipes.
    print(json.dumps(data, indent=2, sort_keys=False, default=str))


def error(exc: KubeFoundryError) -> None:
    _stderr.print(Text.assemble(("Error: ", "bold red"), exc.message))
    if exc.hint:
        _stderr.print(Text.assemble(("To fix: ", "yellow"), exc.hint))


def error_text(text: str) -> None:
    _stderr.print(Text.assemble(("Error: ", "bold red"), text))
