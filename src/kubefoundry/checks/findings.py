"""What a check reports: one :class:`Finding` per problem, located and with its fix.

A finding names the rule that raised it (a stable id such as ``ray-gpu-mismatch``), how bad
it is, what is wrong, exactly what to change, and where: the object (``Kind/name``), the
file and document it came from, and the field inside the object when known. Colours and
wording of the severities belong to the CLI; the severity only says whether it is an error.

Secret values never reach a finding: :func:`mask` is the one way a rule may mention a value
that looks like a token, and :func:`redact` scrubs every finding once more before it leaves
:func:`kubefoundry.checks.checking.check`.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable
from typing import Any

# Hugging Face user and organisation tokens: hf_ followed by 30+ letters and digits.
HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")


class Severity(enum.StrEnum):
    ERROR = "error"  # the deployment will not work as written
    WARNING = "warning"  # it works, but wastes GPUs, will break on upgrade, or is fragile
    INFO = "info"  # something the check could not verify

    @property
    def is_error(self) -> bool:
        return self is Severity.ERROR

    @property
    def rank(self) -> int:
        return (Severity.ERROR, Severity.WARNING, Severity.INFO).index(self)


@dataclasses.dataclass(frozen=True)
class Ref:
    """Where an object came from: ``Kind/name`` plus file, document number and line."""

    kind: str
    name: str
    namespace: str | None = None
    source: str = "<input>"
    document: int = 1  # 1-based position in its file
    line: int | None = None  # 1-based line the document starts on

    def __str__(self) -> str:
        return f"{self.kind or '?'}/{self.name or '?'}"

    @property
    def location(self) -> str:
        line = f":{self.line}" if self.line else ""
        return f"{self.source}{line} (document {self.document})"


@dataclasses.dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    message: str  # what is wrong and what it does at runtime
    fix: str  # exactly what to change
    ref: Ref
    path: str = ""  # the field inside the object, e.g. spec.template.spec.containers[0].args

    @property
    def is_error(self) -> bool:
        return self.severity.is_error

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": str(self.severity),
            "object": str(self.ref),
            "kind": self.ref.kind,
            "name": self.ref.name,
            "namespace": self.ref.namespace,
            "file": self.ref.source,
            "document": self.ref.document,
            "line": self.ref.line,
            "path": self.path,
            "message": self.message,
            "fix": self.fix,
        }


def mask(value: str) -> str:
    """A printable stand-in for a secret value: its kind, never its content."""
    if value.startswith("hf_"):
        return f"hf_… ({len(value)} characters)"
    return f"*** ({len(value)} characters)"


def redact(findings: Iterable[Finding], secrets: Iterable[str]) -> list[Finding]:
    """``findings`` with every known secret value and every token-shaped string masked."""
    values = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def scrub(text: str) -> str:
        for value in values:
            text = text.replace(value, mask(value))
        return HF_TOKEN.sub(lambda m: mask(m.group(0)), text)

    return [
        dataclasses.replace(f, message=scrub(f.message), fix=scrub(f.fix), path=scrub(f.path))
        for f in findings
    ]
