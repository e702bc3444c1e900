"""Name helpers: close-match suggestions, DNS-safe names, counted nouns."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


def _fold(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def suggest(name: str, candidates: Iterable[str], *, limit: int = 3) -> list[str]:
    """Candidates closest to ``name``, ignoring case and punctuation; best first."""
    pool = list(dict.fromkeys(candidates))
    folded = {_fold(c): c for c in pool}
    key = _fold(name)
    hits = [folded[f] for f in difflib.get_close_matches(key, list(folded), n=limit, cutoff=0.6)]
    # Substring matches ("llama-3.1-8b" inside "meta-llama/Llama-3.1-8B-Instruct") rank next.
    for c in pool:
        if len(hits) >= limit:
            break
        if key and key in _fold(c) and c not in hits:
            hits.append(c)
    return hits[:limit]


def dns_label(name: str, *, max_len: int = 63) -> str:
    """A DNS-1123 label made from any name: lower case, alphanumerics and '-'."""
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower().split("/")[-1]).strip("-")
    label = re.sub(r"-{2,}", "-", label)
    return label[:max_len].rstrip("-") or "model"


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 object``, ``2 objects``, ``0 replicas``; irregular plurals are passed in."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
