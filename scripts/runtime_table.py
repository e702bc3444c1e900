"""Print the runtimes table in docs/runtimes/README.md from the registry (the source of truth).

Run ``.venv/bin/python scripts/runtime_table.py > docs/runtimes/README.md`` after changing a
runtime's summary, requirements or limits; a test fails while the two differ.
"""

from __future__ import annotations

from kubefoundry.runtimes import base, registry

HEADER = """# Runtimes

Generated from `kubefoundry.runtimes.registry` by `scripts/runtime_table.py`; do not edit by
hand. Order = preference when no runtime is pinned: the first runtime that serves everything
the plan needs (and, with cluster facts, is installed) wins, and the plan explains why the
others lost. "Scale to zero" is a soft need: a runtime without it keeps one replica warm and
says what that costs. Each runtime has its own page beside this one.
"""


def table() -> str:
    features = list(base.Feature)
    head = "| runtime | renders | needs installed | " + " | ".join(f.value for f in features)
    rule = "|---|---|---|" + "---|" * len(features)
    rows = [head + " |", rule]
    for r in registry.default().all():
        cells = ["no" if f in r.limits else "yes" for f in features]
        requires = base.requirement_text(r)
        rows.append(
            f"| [{r.name}]({r.name}.md) | {r.summary} | {requires} | " + " | ".join(cells) + " |"
        )
    reasons = ["", "## Why not", ""]
    for r in registry.default().all():
        for feature, why in r.limits.items():
            reasons.append(f"- **{r.name}**, {feature.value}: {why}")
    return HEADER + "\n" + "\n".join(rows) + "\n" + "\n".join(reasons) + "\n"


if __name__ == "__main__":
    print(table(), end="")
