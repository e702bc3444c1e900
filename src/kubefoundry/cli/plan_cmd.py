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
    fmt: output.OutputFormat = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Plan GPUs, parallelism, context, replicas, probes, cost and runtime for MODEL."""
    from kubefoundry.deploy import rendering
    from kubefoundry.runtimes import base

    request = requesting.from_flags(file, locals())
    entry = requesting.resolve(request, config=config)
    _, result = rendering.plan(
        request, entry, options=base.Options(), facts=requesting.facts(cluster)
    )
    if not output.data(result.to_dict(), fmt, as_json=as_json):
        show(result)


def show(p: Plan) -> None:
    from rich.table import Table

    from kubefoundry.core.naming import counted
    from kubefoundry.planning import explaining

    console = output.console()
    summary = Table(title=f"Plan for {p.model_id} — {p.tier} tier", show_header=False)
    summary.add_column(style="bold")
    summary.add_column()
    cost = p.cost
    rows = [
        (
            "GPU",
            f"{p.gpu_count} × {p.gpu} per replica (TP {p.tensor_parallel}, PP "
            f"{p.pipeline_parallel}, {counted(p.nodes_per_replica, 'node')})",
        ),
        (
            "Replicas",
            f"{p.replicas} (autoscale {p.autoscaling.min_replicas}–"
            f"{p.autoscaling.max_replicas} on {p.autoscaling.signal})",
        ),
        ("Runtime", p.runtime or "-"),
        (
            "Engine",
            f"vLLM {p.engine_version}, {p.dtype}, quantization "
            f"{p.quantization or 'none'}, KV cache {p.kv_cache_dtype}",
        ),
        (
            "Context",
            f"{p.max_model_len:,} tokens; {p.memory.max_concurrency:.1f} such requests at once",
        ),
        (
            "Memory / GPU",
            f"{p.memory.weights_gib:.1f} GiB weights + "
            f"{p.memory.activation_peak_gib:.1f} activations + "
            f"{p.memory.non_torch_gib:.1f} runtime; KV {p.memory.kv_cache_gib:.1f} "
            f"GiB = {p.memory.kv_tokens:,} tokens",
        ),
        (
            "Cost",
            f"{explaining.money(cost.usd_per_hour_replica)} per replica, "
            f"{explaining.money(cost.usd_per_hour_total)} total"
            + (
                f", ${cost.usd_per_million_tokens:.3f}/1M output tokens at "
                f"{cost.utilisation:.0%} busy"
                if cost.usd_per_million_tokens
                else ""
            )
            + f" ({cost.price_source})",
        ),
        (
            "Probes",
            f"startup up to {p.probes.startup_budget_s}s (cold start ≈ "
            f"{p.probes.cold_start_s}s, warm ≈ {p.probes.warm_start_s}s)",
        ),
    ]
    if p.speed:
        rows.append(
            (
                "Speed",
                f"{p.speed.decode_tokens_per_s_single:.0f} tokens/s per request, "
                f"{p.speed.decode_tokens_per_s_batch:,.0f} tokens/s at "
                f"{p.speed.batch} concurrent; TTFT ≈ {p.speed.ttft_s:.2f}s",
            )
        )
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
