"""One YAML document as checks see it, and tolerant readers for its fields.

Checks run on what people wrote, which is often not what the schema allows: a string where
a number belongs, a list where a mapping does. The readers here return ``None`` (or an
empty value) for a field of the wrong shape instead of raising, so a schema error is
reported once, by the schema check, and never crashes a pitfall rule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from kubefoundry.checks.findings import Finding, Ref, Severity


@dataclasses.dataclass(frozen=True)
class Document:
    """A parsed document: the object, the file it came from, its position and first line."""

    obj: Any
    source: str = "<input>"
    index: int = 1  # 1-based position in the file
    line: int | None = None

    @property
    def is_object(self) -> bool:
        return isinstance(self.obj, Mapping)

    @property
    def kind(self) -> str:
        return text(self.obj, "kind") or ""

    @property
    def api_version(self) -> str:
        return text(self.obj, "apiVersion") or ""

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def name(self) -> str:
        return text(self.obj, "metadata", "name") or ""

    @property
    def namespace(self) -> str | None:
        return text(self.obj, "metadata", "namespace")

    def ref(self) -> Ref:
        return Ref(
            kind=self.kind,
            name=self.name,
            namespace=self.namespace,
            source=self.source,
            document=self.index,
            line=self.line,
        )

    def finding(
        self, rule: str, severity: Severity, *, message: str, fix: str, path: str = ""
    ) -> Finding:
        return Finding(
            rule=rule, severity=severity, message=message, fix=fix, ref=self.ref(), path=path
        )


def dig(node: Any, *keys: str | int) -> Any:
    """``node[k1][k2]…`` or None where a key is missing or a node has the wrong shape."""
    for key in keys:
        if isinstance(key, int):
            if not isinstance(node, list) or not -len(node) <= key < len(node):
                return None
            node = node[key]
        elif isinstance(node, Mapping):
            node = node.get(key)
        else:
            return None
    return node


def mapping(node: Any, *keys: str | int) -> Mapping[str, Any]:
    value = dig(node, *keys)
    return value if isinstance(value, Mapping) else {}


def items(node: Any, *keys: str | int) -> Sequence[Any]:
    value = dig(node, *keys)
    return value if isinstance(value, list) else []


def text(node: Any, *keys: str | int) -> str | None:
    value = dig(node, *keys)
    return value if isinstance(value, str) else None


def number(node: Any, *keys: str | int) -> int | None:
    """An integer written as a number or a numeric string ("4", 4, 4.0); else None."""
    return to_int(dig(node, *keys))


def to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            parsed = float(value.strip())
        except ValueError:
            return None
        return int(parsed) if parsed.is_integer() else None
    return None


def to_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def join(path: str, *keys: str | int) -> str:
    """``spec.template`` + ``containers``, 0 -> ``spec.template.containers[0]``."""
    for key in keys:
        if isinstance(key, int):
            path += f"[{key}]"
        else:
            path = f"{path}.{key}" if path else key
    return path
