"""``kubefoundry bench NAME``: a short, bounded load run against a deployment, its measured
tokens/s, TTFT and TPOT printed beside the speed model's predictions
(``deploy/benchmarking``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from kubefoundry.cli import output, requesting
from kubefoundry.core import choices

if TYPE_CHECKING:
    from kubefoundry.deploy.benchmarking import Row, Run


def bench(
    name: Annotated[str, typer.Argument(help="Deployment name (see `kubefoundry ls`).")],
    workload: Annotated[
        choices.Workload | None,
        typer.Option("--workload", help="Prompt and output lengths: this profile's means."),
    ] = None,
    requests: Annotated[
        int, typer.Option("--requests", min=1, max=1000, help="Requests to send in all.")
    ] = 20,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=256, help="Requests in flight at once.")
    ] = 4,
    namespace: requesting.Namespace = None,
    kubeconfig: requesting.Kubeconfig = None,
    context: requesting.Context = None,
    fmt: output.OutputFormat = None,
) -> None:
    """Load a deployment briefly; measured tokens/s, TTFT, TPOT beside the plan's."""
    from kubefoundry.core import identity
    from kubefoundry.deploy import benchmarking, deploying, inference
    from kubefoundry.planning import workloads

    conn = requesting.connect(kubeconfig, context, namespace)
    root = deploying.find(conn, name=name, namespace=conn.namespace)
    spec = identity.spec_of(root)
    profile = workloads.profile(workload or (spec.workload.profile if spec else "chat"))
    plan, why = _plan(conn, spec)
    ends = inference.endpoints(conn, name=name, namespace=conn.namespace)
    err = output.stderr()
    err.print(
        f"{requests} requests, {concurrency} at a time, to {len(ends)} pod(s) of {name}: "
        f"{profile.input_tokens}-word prompts, up to {profile.output_tokens} tokens each "
        f"({profile.name} profile)",
        highlight=False,
    )
    done = benchmarking.run(
        conn, ends, profile=profile, requests=requests, concurrency=concurrency,
        on_done=_progress(requests),
    )  # fmt: skip
    replicas = len(ends)
    rows = benchmarking.compare(done, plan.performance if plan else None, replicas=replicas)
    if output.data(_to_dict(done, rows, why), fmt):
        return
    _print(done, rows, why=why, replicas=replicas)


def _plan(conn: Any, spec: Any) -> tuple[Any, str | None]:
    """The deployment's spec planned again on this cluster, or why there is no prediction."""
    from kubefoundry.core.errors import KubeFoundryError
    from kubefoundry.deploy import discovering, rendering

    if spec is None:
        return None, "the deployment carries no spec to plan again"
    try:
        facts, _ = discovering.discover(conn)
        _, plan = rendering.plan(spec, rendering.model_entry(spec.model), facts=facts)
    except KubeFoundryError as err:
        return None, f"planning its spec again failed: {err.message.splitlines()[0]}"
    return plan, None


def _progress(total: int) -> Any:
    err = output.stderr()
    step = max(1, total // 10)

    def said(n: int) -> None:
        if n % step == 0 or n == total:
            err.print(f"  {n}/{total} done", style="dim", highlight=False)

    return said


def _print(done: Run, rows: list[Row], *, why: str | None, replicas: int) -> None:
    columns = (
        output.Column("figure", identifier=True),
        output.Column("measured", justify="right"),
        output.Column("model: one alone", justify="right", drop=2),
        output.Column("model: plan's peak", justify="right", drop=1),
    )
    cells = [
        (f"{r.figure} ({r.unit})", _fmt(r.measured), _fmt(r.alone), _fmt(r.peak)) for r in rows
    ]
    title = (
        f"{done.requests - done.failed}/{done.requests} requests in {done.wall_s:.1f} s, "
        f"{done.concurrency} at a time, {replicas} replica(s)"
    )
    output.console().print(output.fitted_table(title, columns, cells))
    err = output.stderr()
    if why:
        err.print(f"note: no prediction: {why}.", highlight=False)
    for message in done.errors:
        err.print(f"failed: {message}", style="red", highlight=False)
    if done.failed == done.requests:
        raise typer.Exit(1)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _to_dict(done: Run, rows: list[Row], why: str | None) -> dict[str, Any]:
    import dataclasses

    return {
        "requests": done.requests,
        "failed": done.failed,
        "concurrency": done.concurrency,
        "wall_s": done.wall_s,
        "output_tokens": done.output_tokens,
        "errors": list(done.errors),
        "rows": [dataclasses.asdict(r) for r in rows],
        "no_prediction": why,
    }
