"""How the pages word the fix of an error: next to a form, not as a flag or a route.

Errors below the shells name spec fields and leave some fixes to each surface as
``core.errors.Remedy`` codes (the CLI says ``--config FILE``, the API its routes). A page says
each code the way a person at a form can act on it, then the error's own hint; the templates
show ``error|fix`` where they showed ``error.hint``.
"""

from __future__ import annotations

from typing import Any

from kubefoundry.core.errors import Remedy

REMEDIES: dict[Remedy, str] = {
    Remedy.MODEL_CONFIG: "Pick a model from the catalog, or a Hugging Face id this server can "
    "fetch from the Hub; a page takes no config.json.",
    Remedy.HF_TOKEN_SECRET: "Fill in Token Secret with the name of the Secret that holds the "
    "Hugging Face token (never the token itself).",
    Remedy.ALL_NAMESPACES: "The Deployments page lists every namespace you may read.",
    Remedy.OVERWRITE: "Pages write no files: the YAML preview shows the objects.",
}


def fix(error: Any) -> str:
    """What to do about ``error`` (an error, or anything with a ``hint``): each remedy in the
    page's words, then the hint; empty when it says nothing."""
    remedies = getattr(error, "remedies", ())
    hint = getattr(error, "hint", None)
    return " ".join([*(REMEDIES[Remedy(r)] for r in remedies), *([hint] if hint else [])])


def filters() -> dict[str, Any]:
    return {"fix": fix}
