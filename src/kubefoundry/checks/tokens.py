"""What counts as a credential: names that hold one, values that are one, placeholders.

Shared by the ``secret-inlined`` rule, the Ray ``runtime_env`` rule and the redaction every
finding goes through. A value is never returned in a message: see ``findings.mask``.
"""

from __future__ import annotations

import re

from kubefoundry.checks.findings import HF_TOKEN

# Environment variable names and Secret keys that hold a credential.
TOKEN_NAME = re.compile(
    r"(^|[_\-.])(TOKEN|API[_\-]?KEY|PASSWORD|PASSWD|SECRET|ACCESS[_\-]?KEY|CREDENTIALS?)$"
    r"|^HF_TOKEN$|^HUGGING_?FACE_HUB_TOKEN$|^HUGGINGFACEHUB_API_TOKEN$",
    re.IGNORECASE,
)
# "$HF_TOKEN", "${HF_TOKEN}": shell syntax that Kubernetes and Ray pass on literally.
SHELL_REFERENCE = re.compile(r"^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$")
_PLACEHOLDER = re.compile(
    r"^(<[^>]*>|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\$\([A-Za-z_][A-Za-z0-9_]*\)|\{\{.*\}\}"
    r"|x{3,}|\*+|\.\.\.|(your|my|change|replace|insert|dummy|example|placeholder|todo|redacted)"
    r"[-_ a-z0-9]*|none|null|empty|fake|test|token|secret)$",
    re.IGNORECASE,
)


def is_token_name(name: str) -> bool:
    return bool(TOKEN_NAME.search(name))


def is_placeholder(value: str) -> bool:
    """Empty, ``<your-token>``, ``${HF_TOKEN}``, ``changeme``, ``xxxx``…: not a real secret."""
    return not value.strip() or bool(_PLACEHOLDER.match(value.strip()))


def token_values(text: str) -> list[str]:
    """Hugging Face tokens anywhere in ``text``."""
    return HF_TOKEN.findall(text)
