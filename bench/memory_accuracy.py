"""Print how far the memory model is from real vLLM start-ups: median and p90 absolute % error.

    python bench/memory_accuracy.py [--rows]

Scores weights per GPU and KV-cache token capacity against every usable row of
``shared/data/vllm-memory-calibration.csv``, overall and per attention family. Targets
(issue 2): median ≤ 3 % for weights, ≤ 5 % for KV tokens. Rows whose architecture the
catalog does not know are listed as skipped.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.table import Table

from bench import calibration
from kubefoundry.catalog.architecture import ModelArch


def _catalog_lookup() -> Callable[[str], ModelArch | None]:
    try:
        from kubefoundry.catalog import models
    except ImportError:
        return lambda _: None
    catalog = models.ModelCatalog.load()

    def lookup(model_id: str) -> ModelArch | None:
        for entry in catalog.all():
            if entry.id.lower() == model_id.lower():
                arch: ModelArch = entry.arch
                return arch
        return None

    return lookup


def main(argv: list[str]) -> int:
    console = Console()
    observations, skipped = calibration.load(_catalog_lookup())
    scores = calibration.score(observations)
    table = Table(title="Memory model vs vLLM start-up logs (absolute % error)")
    for column in ("metric", "group", "rows", "median %", "p90 %"):
        table.add_column(column, justify="right" if column != "group" else "left")
    for metric in ("weights", "kv_tokens"):
        mine = [s for s in scores if s.metric == metric]
        groups: dict[str, list[calibration.Score]] = defaultdict(list)
        for s in mine:
            groups[s.family].append(s)
        for name, members in [("ALL", mine), *sorted(groups.items())]:
            stats = calibration.summary(members)
            table.add_row(
                metric, name, str(stats["n"]), f"{stats['median']:.2f}", f"{stats['p90']:.2f}"
            )
        table.add_section()
    console.print(table)
    if "--rows" in argv:
        rows = Table(title="Per row")
        for column in ("row", "model", "metric", "observed", "predicted", "err %"):
            rows.add_column(column)
        for s in sorted(scores, key=lambda s: -s.abs_pct_error):
            rows.add_row(
                s.row_id,
                s.model_id[:44],
                s.metric,
                f"{s.observed:,.2f}",
                f"{s.predicted:,.2f}",
                f"{s.abs_pct_error:.1f}",
            )
        console.print(rows)
    console.print(
        f"skipped {len(skipped)} rows: " + ", ".join(f"{r} ({why})" for r, why in skipped)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
