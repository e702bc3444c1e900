"""Kubernetes timestamps (``2026-01-01T00:00:00Z``, or a datetime a client already parsed)."""

from __future__ import annotations

import datetime
from typing import Any


def parse(value: Any) -> datetime.datetime | None:
    """An aware datetime (UTC where the value names no zone), or None when absent or unreadable."""
    if not value:
        return None
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    try:
        return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
