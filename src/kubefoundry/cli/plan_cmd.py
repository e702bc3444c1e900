"""``kubefoundry plan MODEL``: the planner's decision, explained, as tables or JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubefoundry.cli import output, requesting

if TYPE_CHECKING:
    from kubefoundry.planning.plans import Plan


def plan(
    model: requesting.Model = None,
    file: requesting.RequestFile = None,
    tier: requesting.Tier = None,
    gpu: requesting.Gpu = None,
    gpu_count: requesting.GpuCount = None,
    cloud: requesting.Cloud = None,
    context_length: requesting.ContextLength = None,
    quantization: requesting.Quantization = None,
    kv_cache_dtype: requesting.KvCacheDtype = None,
    replicas: requesting.Replicas = None,
    usd_per_gpu_hour: requesting.UsdPerGpuHour = None,
    runtime: requesting.Runtime = None,
    name: requesting.Name = None,
    namespace: requesting.Namespace = None,
    cluster: requesting.Cluster = None,
    config: requesting.Config = None,
    hf_token_secret: requesting.HfTokenSecret = None,
    vllm_version: requesting.VllmVersion = None,
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
    fmt: output.OutputFormat = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Plan GPUs, parallelism, context, replicas, probes, cost and runtime for MODEL."""
    from kubefoundry.deploy import rendering
    from kubefoundry.runtimes import base

    request = requesting.from_flags(file, locals())
    entry = requesting.resolve(request, config=config)
    _, result = rendering.plan(
        request, entry, options=base.Options.from_spec(request), facts=requesting.facts(cluster)
    )
    if not output.data(result.to_dict(), fmt, as_json=as_json):
        show(result)


def show(p: Plan) -> None:
    from rich.table import Table

    from kubefoundry.core.naming import counted

    console = output.console()
    summary = Table(title=f"Plan for {p.model_id} — {p.tier} tier", show_header=False)
    summary.add_column(style="bold")
    summary.add_column()
    rows = [
        (
            "GPU",
            f"{p.gpu_count} × {p.gpu} per replica (TP {p.tensor_parallel}, PP "
            f"{p.pipeline_parallel}, {counted(p.nodes_per_replica, 'node')})",
        ),
        (
            "Replicas",
            f"{p.replicas} (autoscale {p.autoscaling.min_replicas}–"
            f"{p.autoscaling.max_replicas} on {p.autoscaling.signal}, target "
            f"{p.autoscaling.target:g} per replica)",
        ),
        ("Nodes", _nodes(p)),
        ("Runtime", p.runtime or "-"),
        (
            "Engine",
            f"vLLM {p.engine_version}, {p.dtype}, quantization "
            f"{p.quantization or 'none'}, KV cache {p.kv_cache_dtype}",
        ),
        (
            "Context",
            f"{p.max_model_len:,} tokens per request at most; "
            f"{p.memory.max_concurrency:.1f} such requests fit at once",
        ),
        (
            "Memory / GPU",
            f"{p.memory.weights_gib:.1f} GiB weights + "
            f"{p.memory.activation_peak_gib:.1f} activations + "
            f"{p.memory.non_torch_gib:.1f} runtime; KV {p.memory.kv_cache_gib:.1f} "
            f"GiB = {p.memory.kv_tokens:,} tokens",
        ),
        ("Cost", _cost(p)),
        (
            "Probes",
            f"startup up to {p.probes.startup_budget_s}s (cold start ≈ "
            f"{p.probes.cold_start_s}s, warm ≈ {p.probes.warm_start_s}s)",
        ),
    ]
    if p.performance:
        rows[3:3] = _performance(p)
    if p.node_selector:
        rows.append(("Node selector", ", ".join(f"{k}={v}" for k, v in p.node_selector.items())))
    for key, value in rows:
        summary.add_row(key, value)
    console.print(summary)
    for decision in p.decisions:
        console.print(
            f"[bold]{decision.topic}[/]: ",
            decision.choice,
            " — ",
            decision.reason,
            sep="",
            markup=True,
        )
        if decision.alternatives:
            table = Table(show_header=True, header_style="dim", box=None, padding=(0, 2))
            table.add_column("instead of")
            table.add_column("why not")
            for alt in decision.alternatives[:8]:
                table.add_row(alt.option, alt.why_not)
            console.print(table)
    for warning in p.warnings:
        console.print("[yellow]warning:[/] ", warning, sep="", markup=True)


def _nodes(p: Plan) -> str:
    from kubefoundry.core.naming import counted

    cost = p.cost
    if cost.instance_type is None:
        used = p.gpu_count * p.replicas
        return f"{used} × {p.gpu} on your own nodes, priced per GPU"
    shape = cost.instance_type
    each = counted(cost.gpus_per_machine, "GPU")
    text = f"{cost.nodes} × {shape} ({each} each)"
    if cost.idle_gpus:
        text += f"; {cost.idle_gpus} GPU{'s' if cost.idle_gpus > 1 else ''} idle but paid for"
    return text


def _cost(p: Plan) -> str:
    from kubefoundry.core.naming import counted
    from kubefoundry.planning import explaining

    cost = p.cost
    what = (
        counted(cost.nodes, "node")
        if cost.instance_type
        else counted(p.gpu_count * p.replicas, "GPU")
    )
    text = (
        f"{explaining.money(cost.usd_per_hour_total)} for {what} "
        f"({explaining.money(cost.usd_per_hour_replica)} per replica)"
    )
    if cost.usd_per_million_output_tokens is not None:
        text += (
            f"; ${cost.usd_per_million_input_tokens:.3f}/1M input + "
            f"${cost.usd_per_million_output_tokens:.3f}/1M output tokens at a mean load of "
            f"{cost.utilisation:.0%} of the peak"
        )
    if cost.usd_per_million_output_tokens_busy is not None:
        text += (
            f"; ${cost.usd_per_million_input_tokens_busy:.3f} + "
            f"${cost.usd_per_million_output_tokens_busy:.3f} with every replica busy at its "
            "planned load"
        )
    return text + f" ({cost.price_source})"


def _performance(p: Plan) -> list[tuple[str, str]]:
    perf = p.performance
    assert perf is not None
    assumed = f" (assumed: {', '.join(perf.assumed)})" if perf.assumed else ""
    mode = f"; vLLM --performance-mode {perf.performance_mode}" if perf.performance_mode else ""
    return [
        ("Workload", f"{perf.workload}; {perf.targets}{assumed}"),
        (
            "Speed",
            f"per replica at the peak: {perf.output_tokens_per_s:,.0f} output tokens/s, "
            f"TTFT {perf.ttft_ms:,.0f} ms (p95 ≈ {perf.ttft_p95_ms:,.0f}), TPOT "
            f"{perf.tpot_ms:.1f} ms (p95 ≈ {perf.tpot_p95_ms:.1f}) "
            f"({perf.requests_per_s:.2f} requests/s); alone: TTFT {perf.ttft_ms_alone:,.0f} ms, "
            f"TPOT {perf.tpot_ms_alone:.1f} ms; saturated: "
            f"{perf.output_tokens_per_s_saturated:,.0f} tokens/s{mode}",
        ),
        (
            "Capacity",
            f"{perf.capacity_requests_per_s:.2f} requests/s ({perf.capacity_concurrency:g} in "
            f"flight) per replica, bounded by {perf.limit}; planned at "
            f"{perf.load_share:.0%} of it: {perf.replicas_needed} "
            f"replica{'s' if perf.replicas_needed > 1 else ''} for the peak of "
            f"{perf.peak_requests_per_s:.2f} requests/s",
        ),
    ]
