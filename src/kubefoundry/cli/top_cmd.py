"""``kubefoundry top``: live model-server metrics per deployment, like ``kubectl top``.

Rates and percentiles need two scrapes: ``top`` scrapes, waits ``--interval`` seconds, scrapes
again and prints; ``--watch`` keeps refreshing until Ctrl-C. The figures come from
``deploy/monitoring`` (the same Monitor the web UI reads).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kubefoundry.cli import output, requesting

if TYPE_CHECKING:
    from kubefoundry.deploy import monitoring
    from kubefoundry.deploy.monitoring import Observed
    from kubefoundry.metrics.readings import Percentiles

COLUMNS = (
    output.Column("namespace", identifier=True, drop=1),
    output.Column("name", identifier=True),
    output.Column("server", drop=6),
    output.Column("pods", justify="right", drop=5),
    output.Column("running", justify="right"),
    output.Column("waiting", justify="right"),
    output.Column("KV", justify="right", drop=3),
    output.Column("in tok/s", justify="right", drop=4),
    output.Column("out tok/s", justify="right"),
    output.Column("TTFT p50/p99", justify="right", drop=2),
    output.Column("ITL p50", justify="right", drop=7),
    output.Column("err/s", justify="right", drop=8),
    output.Column("tok/GPU-h", justify="right", drop=9),
    output.Column("$/h", justify="right", drop=10),
    output.Column("$/1M in", justify="right", drop=12),
    output.Column("$/1M out", justify="right", drop=11),
)


def top(
    name: Annotated[
        str | None, typer.Argument(help="Only this deployment (see `kubefoundry ls`).")
    ] = None,
    namespace: requesting.Namespace = None,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="Every namespace you may read.")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=1.0, help="Seconds between the two scrapes.")
    ] = 5.0,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Keep refreshing until Ctrl-C.")
    ] = False,
    kubeconfig: requesting.Kubeconfig = None,
    context: requesting.Context = None,
    fmt: output.OutputFormat = None,
) -> None:
    """Model-server metrics per deployment: load, tokens/s, latency, KV cache."""
    from kubefoundry.deploy import deploying, monitoring

    conn = requesting.connect(kubeconfig, context, namespace)
    where = None if all_namespaces else conn.namespace
    if where is not None and name:
        deploying.find(conn, name=name, namespace=where)  # an unknown name: close matches
    elif where is not None:
        deploying.find_namespace(conn, where)  # a namespace that does not exist says so
    monitor = monitoring.Monitor(conn)
    names = (name,) if name else ()
    monitor.refresh(namespace=where, names=names)
    try:
        if watch and fmt is None and output.console().is_terminal:
            _live(monitor, interval, where=where, name=name, names=names)  # redrawn in place
        while True:
            time.sleep(interval)
            seen = monitor.refresh(namespace=where, names=names)
            _show(seen, fmt, where=where, name=name)
            if not watch:
                return
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def _live(
    monitor: Any, interval: float, *, where: str | None, name: str | None, names: Sequence[str]
) -> None:
    """``--watch`` in a terminal: one table, redrawn at each refresh, like ``watch``."""
    from rich.console import Group
    from rich.live import Live
    from rich.text import Text

    with Live(console=output.console(), auto_refresh=False) as live:
        while True:
            time.sleep(interval)
            shown, notes = _frame(monitor.refresh(namespace=where, names=names), where, name)
            live.update(Group(*shown, *(Text(n, style="dim") for n in notes)), refresh=True)


def _show(
    seen: Sequence[Observed], fmt: output.Format | None, *, where: str | None, name: str | None
) -> None:
    from kubefoundry.deploy import monitoring

    if output.data([monitoring.to_dict(o) for o in seen], fmt):
        return
    shown, notes = _frame(seen, where, name)
    for part in shown:
        output.console().print(part)
    for note in notes:
        output.stderr().print(note, highlight=False)


def _frame(
    seen: Sequence[Observed], where: str | None, name: str | None
) -> tuple[list[Any], list[str]]:
    """What one refresh shows: the table and the totals (or why there is none), and each
    pod's problem as a note."""
    from rich.text import Text

    from kubefoundry.deploy import monitoring

    place = f"namespace {where}" if where else "every namespace"
    if not seen:
        what = f"Deployment {name} has" if name else f"No KubeFoundry deployment in {place} has"
        return [Text(f"{what} no pods now (scaled to zero, or not started).")], []
    table = output.fitted_table(f"Model servers in {place}", COLUMNS, [_row(o) for o in seen])
    notes = [
        f"note: {o.name}: pod {pod}: {why}" for o in seen for pod, why in sorted(o.problems.items())
    ]
    return [table, Text(_totals(monitoring.totals(seen), place))], notes


def _totals(t: monitoring.Totals, place: str) -> str:
    parts = [
        f"{t.gpus} GPUs ({t.busy_gpus} busy now)",
        f"{_num(t.output_tps, 1)} output tok/s",
        f"{_num(t.goodput_tokens_per_gpu_hour)} tok per GPU-hour",
    ]
    if t.usd_per_hour is not None:
        per_million = t.usd_per_million_output_tokens
        parts.append(f"{_usd(t.usd_per_hour)}/h")
        parts.append(f"{_per_million(per_million)} per 1M output tokens" if per_million else "")
    if t.busy_share is not None:
        idle = t.gpu_hours - t.busy_gpu_hours
        parts.append(
            f"{t.busy_share:.0%} of GPU time busy since `top` began ({idle:.2f} idle GPU-h)"
        )
    unpriced = f" ({t.unpriced} unpriced, left out of the bill)" if t.unpriced else ""
    deployments = f"{t.deployments} deployment{'s' if t.deployments != 1 else ''}"
    return f"All {deployments} in {place}: " + ", ".join(p for p in parts if p) + unpriced


def _row(o: Observed) -> tuple[str, ...]:
    r = o.reading
    return (
        o.namespace,
        o.name,
        ", ".join(sorted(r.servers)) or "-",
        f"{o.scraped}/{o.pods}",
        _num(r.running),
        _num(r.waiting),
        "-" if r.kv_usage is None else f"{r.kv_usage:.0%}",
        _num(r.prompt_tps, 1),
        _num(r.output_tps, 1),
        _ms(r.ttft, "p50") + "/" + _ms(r.ttft, "p99"),
        _ms(r.itl, "p50"),
        _num(r.errors_per_s, 2),
        _num(o.goodput_tokens_per_gpu_hour),
        _usd(o.usd_per_hour),
        _beside_plan(o.usd_per_million_input_tokens, o.planned_usd_per_million_input_tokens),
        _beside_plan(o.usd_per_million_output_tokens, o.planned_usd_per_million_output_tokens),
    )


def _beside_plan(measured: float | None, planned: float | None) -> str:
    return _per_million(measured) + ("" if planned is None else f" (plan {_per_million(planned)})")


def _per_million(value: float | None) -> str:
    """A price per 1M tokens: cents, or three significant digits below a dime ($0.00412)."""
    if value is None:
        return "-"
    return f"${value:,.2f}" if abs(value) >= 0.1 else f"${value:.3g}"


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}"


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ms(p: Percentiles | None, which: str) -> str:
    value = None if p is None else getattr(p, which)
    return "-" if value is None else f"{value * 1000:,.0f}ms"
