"""Rules never crash on input of the wrong shape: each field of every example, replaced in
turn by a value of another type, still gives findings (from the schema), not a traceback."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.checks.support import FIXTURES, SAMPLES, catalogs, schemas

from kubefoundry.checks import reading, rules
from kubefoundry.checks.context import Context
from kubefoundry.checks.documents import Document

FILES = sorted(FIXTURES.rglob("bad.yaml")) + sorted(SAMPLES.rglob("*.yaml"))


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, child in node.items():
            yield (*path, key)
            yield from _paths(child, (*path, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield (*path, i)
            yield from _paths(child, (*path, i))


def _wrong(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return ["text", [1]]
    if isinstance(value, list):
        return [{"a": 1}, "text"]
    if isinstance(value, str):
        return [{"a": 1}, 3, None]
    return ["text", [1], {"a": 1}]


def _mutants(obj: Any) -> Iterator[Any]:
    for path in _paths(obj):
        parent = obj
        for key in path[:-1]:
            parent = parent[key]
        for replacement in _wrong(parent[path[-1]]):
            clone = copy.deepcopy(obj)
            target = clone
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = replacement
            yield clone


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_rules_survive_every_wrong_shape(path: Path) -> None:
    documents = reading.read_paths([path])
    for index, doc in enumerate(documents):
        for mutant in _mutants(doc.obj):
            docs = list(documents)
            docs[index] = Document(obj=mutant, source=doc.source, index=doc.index)
            ctx = Context(documents=tuple(docs), schemas=schemas(), catalogs=catalogs())
            for rule in rules.RULES:
                try:
                    list(rule.check(docs[index], ctx))
                except Exception as exc:  # pragma: no cover - the failure report
                    pytest.fail(f"{rule.id} crashed on a mutant of {path.name}: {exc!r}")
