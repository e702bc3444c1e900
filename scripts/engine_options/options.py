"""One accepted option, as the data files store it."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class Option:
    """``takes_value``: the next word is its value; ``negatable``: ``--no-<name>`` exists too;
    ``choices``: the only values the engine's parser accepts (None: not restricted, or not
    known from the source)."""

    name: str  # the long flag without dashes (``tensor-parallel-size``) or a config key
    takes_value: bool = True
    negatable: bool = False
    choices: list[str] | None = None
    aliases: list[str] = dataclasses.field(default_factory=list)
    env: str | None = None  # the environment variable that sets it (TGI's launcher)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"takes_value": self.takes_value}
        if self.negatable:
            out["negatable"] = True
        if self.choices is not None:
            out["choices"] = self.choices
        if self.aliases:
            out["aliases"] = sorted(self.aliases)
        if self.env:
            out["env"] = self.env
        return out


def merge(into: dict[str, Option], option: Option) -> None:
    """Add ``option``; a name seen twice keeps the most permissive reading of it."""
    known = into.get(option.name)
    if known is None:
        into[option.name] = option
        return
    known.takes_value = known.takes_value or option.takes_value
    known.negatable = known.negatable or option.negatable
    if known.choices is None or option.choices is None:
        known.choices = None
    else:
        known.choices = sorted({*known.choices, *option.choices})
    known.aliases = sorted({*known.aliases, *option.aliases})
