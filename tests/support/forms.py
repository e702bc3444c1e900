"""Reading the pages' forms the way a browser submits them: the CSRF field every unsafe form
carries, and the hidden inputs of the form posting to an action (what its button sends)."""

from __future__ import annotations

import re


def csrf(page: str) -> dict[str, str]:
    """``{"csrf": token}`` from the page's CSRF field; the page must have one."""
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "every page with a form carries the CSRF field"
    return {"csrf": found.group(1)}


def hidden(page: str, action: str) -> dict[str, str]:
    """The hidden inputs of the form posting to ``action`` (its CSRF field included)."""
    form = re.search(rf'<form method="post" action="{re.escape(action)}".*?</form>', page, re.S)
    assert form, f"no form posting to {action}"
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(0)))
