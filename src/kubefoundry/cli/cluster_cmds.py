"""``cluster``, ``deploy``, ``ls``, ``status``, ``logs``, ``delete``: KubeFoundry on a cluster.

kubectl conventions: ``--kubeconfig``, ``--context``, ``-n/--namespace`` (default: the
context's), ``-A`` to list every namespace you may read, ``-o json|yaml`` where the output
is data. Nothing waits for input: ``delete`` asks only on a terminal, and ``--yes`` skips it.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kubefoundry.cli import output, requesting, serving
from kubefoundry.core.errors import InvalidInputError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from kubefoundry.core.facts import ClusterFacts
    from kubefoundry.deploy import phases
    from kubefoundry.deploy.logs import Source

Kubeconfig = requesting.Kubeconfig
Context = requesting.Context
_STYLE = {"ready": "bold green", "failed": "bold red"}


_connect = requesting.connect


def cluster(
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    fmt: output.OutputFormat = None,
) -> None:
    """What the cluster has: cloud, GPU node pools, installed runtimes, classes."""
    from rich.table import Table
    from rich.text import Text

    from kubefoundry.deploy import discovering

    conn = _connect(kubeconfig, context, None)
    facts, refused = discovering.discover(conn)
    if output.data(facts.model_dump(mode="json") | {"unreadable": refused}, fmt):
        return
    console = output.console()
    console.print(
        f"[bold]{conn.context}[/] ({conn.server}): Kubernetes {facts.kubernetes_version or '?'}, "
        f"cloud {facts.cloud or '?'}, provisioner {facts.provisioner}"
    )
    table = Table(title="Node pools")
    for column in ("pool", "GPU", "GPUs/node", "nodes", "free GPUs", "instance type", "taints"):
        table.add_column(column)
    for p in facts.node_pools:
        table.add_row(
            p.name,
            p.gpu or "-",
            str(p.gpus_per_node or "-"),
            str(p.nodes),
            "-" if p.free_gpus is None else str(p.free_gpus),
            p.instance_type or "-",
            ", ".join(f"{t.key}:{t.effect}" for t in p.taints) or "-",
        )
    console.print(table)
    _print_operators(console, facts)
    console.print(f"Prometheus operator: {facts.prometheus_operator}")
    console.print(f"Storage classes: {', '.join(facts.storage_classes) or 'none'}")
    console.print(f"Gateway classes: {', '.join(facts.gateway_classes) or 'none'}")
    for line in refused:
        output.stderr().print(Text.assemble(("not readable: ", "yellow"), line))


# How each operator state reads here (the web page words its own).
OPERATOR_STATES = {
    "running": "[green]running[/]",
    "crds-only": "[yellow]CRDs only[/]: no controller acting",
    "unknown": "[yellow]unknown[/]: hidden by RBAC",
}


def _print_operators(console: Console, facts: ClusterFacts) -> None:
    """Every operator whose CRD is served: running, CRDs only (and what to install) or
    unknown (and what was hidden); planning picks only runtimes whose operators run."""
    from rich.table import Table

    if not facts.operators and not facts.installed_runtimes:
        console.print("Operators: none (plain vLLM and TGI Deployments need none)")
        return
    table = Table(title="Operators (runtimes are planned only where theirs run)")
    # Fold, never cut: a label, a Lease or the fix is whole on a narrow terminal too.
    for column in ("operator", "version", "state", "seen"):
        table.add_column(column, overflow="fold")
    for key, status in facts.operators.items():
        seen = status.evidence + (f". To fix: {status.fix}." if status.fix else "")
        table.add_row(key, status.version or "-", OPERATOR_STATES[status.state], seen)
    for key, version in facts.installed_runtimes.items():
        if key not in facts.operators:  # a facts file that states it
            table.add_row(key, version or "-", OPERATOR_STATES["running"], "stated in the facts")
    console.print(table)


def deploy(
    model: requesting.Model = None,
    file: requesting.RequestFile = None,
    runtime: requesting.Runtime = None,
    tier: requesting.Tier = None,
    gpu: requesting.Gpu = None,
    gpu_count: requesting.GpuCount = None,
    cloud: requesting.Cloud = None,
    context_length: requesting.ContextLength = None,
    quantization: requesting.Quantization = None,
    kv_cache_dtype: requesting.KvCacheDtype = None,
    replicas: requesting.Replicas = None,
    usd_per_gpu_hour: requesting.UsdPerGpuHour = None,
    name: requesting.Name = None,
    namespace: requesting.Namespace = None,
    config: requesting.Config = None,
    hf_token_secret: requesting.HfTokenSecret = None,
    vllm_version: requesting.VllmVersion = None,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    expose: serving.Expose = None,
    host: serving.Host = None,
    gateway: serving.Gateway = None,
    monitoring: serving.Monitoring = None,
    prometheus: serving.Prometheus = None,
    token_source: serving.TokenSource = None,
    secret_store: serving.SecretStore = None,
    token_path: serving.TokenPath = None,
    model_cache: serving.ModelCache = None,
    cache_size: serving.CacheSize = None,
    storage_class: serving.StorageClass = None,
    disaggregated: serving.Disaggregated = None,
    workload: requesting.Workload = None,
    input_tokens: requesting.InputTokens = None,
    output_tokens: requesting.OutputTokens = None,
    input_tokens_p90: requesting.InputTokensP90 = None,
    output_tokens_p90: requesting.OutputTokensP90 = None,
    requests_per_second: requesting.RequestsPerSecond = None,
    concurrent_users: requesting.ConcurrentUsers = None,
    ttft_ms: requesting.TtftMs = None,
    tpot_ms: requesting.TpotMs = None,
    ttft_p95_ms: requesting.TtftP95Ms = None,
    tpot_p95_ms: requesting.TpotP95Ms = None,
    platform: serving.Platform = None,
    llm_inference_service: serving.LlmInferenceService = None,
    multi_node: serving.MultiNode = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Watch until ready.")] = True,
    timeout: Annotated[
        int | None,
        typer.Option(
            "--timeout",
            min=1,
            help="Seconds to wait for ready.",
            show_default="the plan's startup budget",
        ),
    ] = None,
    force_conflicts: Annotated[
        bool, typer.Option("--force-conflicts", help="Take over fields other managers own.")
    ] = False,
) -> None:
    """Plan, render, check and apply MODEL to the cluster, then watch it come up."""
    from rich.text import Text

    from kubefoundry.catalog import hub
    from kubefoundry.deploy import deploying, discovering
    from kubefoundry.runtimes import base

    request = requesting.from_flags(file, locals())
    options = base.Options.from_spec(request)
    conn = _connect(kubeconfig, context, request.namespace)
    reach = hub.Reach.from_env()  # one decision about the Hub for the whole command
    entry = requesting.resolve(request, config=config, reach=reach)
    namespace = request.namespace or conn.namespace
    facts, _ = discovering.discover(conn, own=deploying.own(request, entry, namespace))
    err = output.stderr()
    done = deploying.deploy(
        request,
        entry,
        conn=conn,
        options=options,
        facts=facts,
        token=os.environ.get("HF_TOKEN"),
        reach=reach,
        force_conflicts=force_conflicts,
        progress=lambda a: err.print(f"  {a.kind}/{a.name} {a.action}"),
        on_rendered=output.explain_render,
    )
    plan = done.result.plan
    for warning in done.warnings:
        err.print(Text.assemble(("warning: ", "yellow"), warning))
    if done.token_secret:
        err.print(f"Token: {done.token_secret}")
    err.print(
        Text.assemble(
            ("Deployed ", "bold"),
            plan.name,
            f" to namespace {done.namespace} on ",
            plan.runtime or "?",
        )
    )
    if not wait:
        return
    budget = timeout or plan.probes.startup_budget_s + 120
    final = _watch(conn, name=plan.name, namespace=done.namespace, timeout_s=budget, facts=facts)
    if final.phase.is_failed:
        raise typer.Exit(1)


def _watch(
    conn: Any, *, name: str, namespace: str, timeout_s: float, facts: Any = None
) -> phases.Progress:
    """Follow the deployment until ready, failed or ``timeout_s``: one live line on a
    terminal; on anything else (a CI log, a pipe) one plain line per change, so a log shows
    progress as it happens instead of nothing until the end. Every request made meanwhile
    ends by the same deadline (``transport``): a stalled API server cannot hold it longer."""
    import time

    from rich.live import Live
    from rich.text import Text

    from kubefoundry.deploy import deploying, phases

    err = output.stderr()
    last = phases.Progress(phases.Phase.WAITING, "starting")
    conn.api.deadline = time.monotonic() + timeout_s
    try:
        steps = deploying.watch(
            conn, name=name, namespace=namespace, timeout_s=timeout_s, facts=facts
        )
        if not err.is_terminal:
            for progress in steps:
                last = progress
                output.plain_line(_line(progress))
            return last
        with Live(Text("starting…"), console=err, transient=False, refresh_per_second=4) as live:
            for progress in steps:
                last = progress
                live.update(_line(progress))
        return last
    finally:
        conn.api.deadline = None


def _line(p: phases.Progress) -> Text:
    from rich.text import Text

    counts = f" ({p.ready}/{p.wanted} ready)" if p.wanted else ""
    return Text.assemble(
        (p.phase.label, _STYLE.get(p.phase.code, "bold yellow")), counts, ": ", p.message
    )


def ls(
    namespace: requesting.Namespace = None,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="Every namespace you may read.")
    ] = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    fmt: output.OutputFormat = None,
) -> None:
    """List KubeFoundry deployments."""
    from rich.text import Text

    from kubefoundry.deploy import deploying, listing

    conn = _connect(kubeconfig, context, namespace)
    rows, hidden = listing.deployments(conn, namespace=None if all_namespaces else conn.namespace)
    if not rows and not all_namespaces:
        deploying.find_namespace(conn, conn.namespace)  # a namespace that does not exist
    if hidden:
        where_hidden = (
            "in every namespace; those are left out (try -n NAMESPACE)"
            if all_namespaces
            else f"in namespace {conn.namespace}; deployments of those kinds are left out"
        )
        output.stderr().print(
            Text.assemble(
                ("note: ", "yellow"), f"you may not list {', '.join(hidden)} {where_hidden}."
            )
        )
    if output.data(rows, fmt):
        return
    where = "any namespace" if all_namespaces else f"namespace {conn.namespace}"
    if not rows:
        output.console().print(
            f"No KubeFoundry deployments in {where}. Deploy one with `kubefoundry deploy MODEL`"
            + ("" if all_namespaces else "; -A lists every namespace")
            + "."
        )
        return
    columns = (
        output.Column("namespace", identifier=True, drop=1),
        output.Column("name", identifier=True),
        output.Column("runtime"),
        output.Column("model", drop=4),
        output.Column("kind", drop=3),
        output.Column("GPUs", drop=2),
        output.Column("replicas", justify="right"),
        output.Column("$/h", justify="right", drop=5),
    )
    keys = ("namespace", "name", "runtime", "model", "kind", "gpu", "replicas", "usd_per_hour")
    cells = [tuple("-" if row[k] is None else str(row[k]) for k in keys) for row in rows]
    output.console().print(output.fitted_table(f"Deployments in {where}", columns, cells))


def status(
    name: Annotated[str, typer.Argument(help="Deployment name (see `kubefoundry ls`).")],
    namespace: requesting.Namespace = None,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    fmt: output.OutputFormat = None,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Follow it until ready or failed.")
    ] = False,
    timeout: Annotated[
        int, typer.Option("--timeout", min=1, help="With --watch: seconds to wait for ready.")
    ] = 900,
) -> None:
    """Where a deployment is: ready, or the phase it is in and why (exit 1 when failed)."""
    import time

    from kubefoundry.deploy import deploying, discovering

    conn = _connect(kubeconfig, context, namespace)
    if watch:
        conn.api.deadline = time.monotonic() + timeout  # discovery and lookup count too
    facts, _ = discovering.discover(conn)  # unschedulable pods: stuck, or an autoscaler?
    if watch:
        left = max(1.0, conn.api.deadline - time.monotonic())
        final = _watch(conn, name=name, namespace=conn.namespace, timeout_s=left, facts=facts)
        output.data(final.to_dict(), fmt)
        if final.phase.is_failed:
            raise typer.Exit(1)
        return
    progress = deploying.status(conn, name=name, namespace=conn.namespace, facts=facts)
    if not output.data(progress.to_dict(), fmt):
        output.console().print(_line(progress))
    if progress.phase.is_failed:
        raise typer.Exit(1)


def logs(
    name: Annotated[str, typer.Argument(help="Deployment name.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream new lines.")] = False,
    tail: Annotated[int, typer.Option("--tail", min=1, help="Lines from the end.")] = 100,
    pod: Annotated[str | None, typer.Option("--pod", help="Only this pod.")] = None,
    container: Annotated[
        str | None,
        typer.Option("--container", "-c", help="Another container than the engine's."),
    ] = None,
    namespace: requesting.Namespace = None,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
) -> None:
    """The engine's log lines from every pod of a deployment (or --pod); a pod whose log
    cannot be read is named on stderr."""
    from kubefoundry.deploy import logs as reading

    conn = _connect(kubeconfig, context, namespace)
    chosen = reading.sources(
        conn, name=name, namespace=conn.namespace, pod=pod, container=container
    )
    if not chosen:
        raise InvalidInputError(
            f"Deployment {name!r} in namespace {conn.namespace} has no pods yet.",
            hint=f"`kubefoundry status {name}` says what it is waiting for.",
        )
    if follow:
        _follow(conn, chosen, tail=tail)
    else:
        _tails(conn, chosen, tail=tail)


def _tails(conn: Any, chosen: list[Source], *, tail: int) -> None:
    """Each pod's last lines, under ``==> pod <==`` when there are several (as ``tail``)."""
    from kubefoundry.deploy import logs as reading

    read = reading.tails(conn, chosen, namespace=conn.namespace, lines=tail)
    for pod, lines in read.lines.items():
        if len(chosen) > 1:
            print(f"==> {pod} <==")
        if pod in read.problems:
            _no_logs(read.problems[pod])
        else:
            print("\n".join(lines), flush=True)


def _follow(conn: Any, chosen: list[Source], *, tail: int) -> None:
    """Every pod's lines as they come, ``==> pod <==`` when the pod changes (as ``tail -f``);
    exit 2 when no pod's log could be followed."""
    from kubefoundry.deploy import logs as reading

    last, failed = None, 0
    with reading.Following(conn, chosen, namespace=conn.namespace, lines=tail) as following:
        for entry in following:
            if entry.kind == "problem":
                failed += 1
                _no_logs(entry.text)
            elif entry.kind == "line":
                if len(chosen) > 1 and entry.pod != last:
                    print(f"==> {entry.pod} <==")
                last = entry.pod
                print(entry.text, flush=True)
    if failed == len(chosen):
        raise typer.Exit(2)  # nothing could be followed: an error, as before


def _no_logs(problem: str) -> None:
    from rich.text import Text

    output.stderr().print(Text.assemble(("warning: ", "yellow"), problem))


def delete(
    name: Annotated[str, typer.Argument(help="Deployment name.")],
    namespace: requesting.Namespace = None,
    delete_cache: Annotated[
        bool, typer.Option("--delete-cache", help="Also delete the model cache if unused.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
) -> None:
    """Delete a deployment and everything it owns; the model cache stays unless asked."""
    from rich.text import Text

    from kubefoundry.core import naming
    from kubefoundry.deploy import deploying

    conn = _connect(kubeconfig, context, namespace)
    if not yes and sys.stdin.isatty():
        typer.confirm(f"Delete {name} in namespace {conn.namespace}?", abort=True)
    deleted = deploying.delete(conn, name=name, namespace=conn.namespace, delete_cache=delete_cache)
    for item in deleted:
        output.stderr().print(f"  deleted {item}")
    output.stderr().print(
        Text.assemble(("Deleted ", "bold"), f"{name} ({naming.counted(len(deleted), 'object')})")
    )
