"""What an explanation states, and where the rendered objects hold it.

A decision or warning that names a number, a key, a port or a count is written from a
``Claim``: the value the renderer used, the phrase that says it, and the field of the object
that carries it. ``str(claim)`` is the phrase, so the text is made from the value; ``find``
reads the field back, so a test can hold every claim against the objects and fail when prose
and objects disagree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from kubefoundry.planning.plans import Decision

Value = str | int | float


@dataclasses.dataclass(frozen=True)
class Pick:
    """In a list, the item whose ``key`` is ``value`` (a container by name, an env var)."""

    key: str
    value: str


@dataclasses.dataclass(frozen=True)
class After:
    """In a list of command-line arguments, the one after ``flag``."""

    flag: str


@dataclasses.dataclass(frozen=True)
class Parsed:
    """A string field that holds YAML (a serve config, an inference config): read into it."""


Step = str | int | Pick | After | Parsed


@dataclasses.dataclass(frozen=True)
class At:
    """A field of one rendered object: its kind, its name and the path to the field."""

    kind: str
    name: str
    path: tuple[Step, ...]

    def __str__(self) -> str:
        return f"{self.kind}/{self.name} {'.'.join(_step(s) for s in self.path)}"


@dataclasses.dataclass(frozen=True)
class Claim:
    """One value an explanation states: ``words`` with ``{}`` where the value goes."""

    value: Value
    at: At
    words: str = "{}"

    @property
    def shown(self) -> str:
        return f"{self.value:g}" if isinstance(self.value, float) else str(self.value)

    def __str__(self) -> str:
        return self.words.format(self.shown)


@dataclasses.dataclass(frozen=True)
class Said:
    """A decision or a warning, with the claims its text makes."""

    what: Decision | str
    claims: tuple[Claim, ...] = ()

    @property
    def text(self) -> str:
        if isinstance(self.what, Decision):
            return f"{self.what.choice} — {self.what.reason}"
        return self.what


def said(what: Decision | str, *claims: Claim) -> Said:
    return Said(what, claims)


def find(manifests: Iterable[Mapping[str, Any]], at: At) -> Any:
    """The value at ``at`` in the rendered objects; KeyError naming the step that is missing."""
    node: Any = next(
        (m for m in manifests if m.get("kind") == at.kind and m["metadata"]["name"] == at.name),
        None,
    )
    if node is None:
        raise KeyError(f"no {at.kind}/{at.name} among the rendered objects")
    for step in at.path:
        node = _into(node, step, at)
    return node


def agrees(found: Any, value: Value) -> bool:
    """Equal as numbers when both read as numbers ("2" and 2), else as text."""
    try:
        return float(found) == float(value)
    except (TypeError, ValueError):
        return str(found) == str(value)


def _into(node: Any, step: Step, at: At) -> Any:
    try:
        if isinstance(step, Pick):
            return next(item for item in node if item.get(step.key) == step.value)
        if isinstance(step, After):
            return node[node.index(step.flag) + 1]
        if isinstance(step, Parsed):
            return yaml.safe_load(node)
        return node[step]
    except (KeyError, IndexError, StopIteration, ValueError, TypeError) as exc:
        raise KeyError(f"{at}: no {_step(step)}") from exc


def _step(step: Step) -> str:
    if isinstance(step, Pick):
        return f"[{step.key}={step.value}]"
    if isinstance(step, After):
        return f"[after {step.flag}]"
    if isinstance(step, Parsed):
        return "(yaml)"
    return f"[{step}]" if isinstance(step, int) else step
