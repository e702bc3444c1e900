"""``kubefoundry plan MODEL``: the planner's decision, explained, as tables or JSON."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from kubefoundry.catalog import gpus, hub, instances, models
from kubefoundry.cli import output
from kubefoundry.core import files
from kubefoundry.core.errors import InvalidInputError
from kubefoundry.core.facts import load_facts
from kubefoundry.planning import explaining, planner
from kubefoundry.planning.plans import Plan
from kubefoundry.planning.request import DeploymentRequest


def plan(
    model: Annotated[str, typer.Argument(help="Catalog name or any Hugging Face model id.")],
    tier: Annotated[str, typer.Option("--tier", help="good | better | best")] = "better",
    gpu: Annotated[str | None, typer.Option("--gpu", help="Pin a GPU type.")] = None,
    gpu_count: Annotated[int | None, typer.Option("--gpu-count", help="GPUs per replica.")] = None,
    cloud: Annotated[str | None, typer.Option("--cloud", help="aws | gcp | azure | onprem")] = None,
    context_length: Annotated[int | None, typer.Option("--context-length")] = None,
    quantization: Annotated[str | None, typer.Option("--quantization")] = None,
    kv_cache_dtype: Annotated[str | None, typer.Option("--kv-cache-dtype")] = None,
    replicas: Annotated[int | None, typer.Option("--replicas")] = None,
    usd_per_gpu_hour: Annotated[
        float | None, typer.Option("--usd-per-gpu-hour", help="Your own GPU price (on-prem).")
    ] = None,
    cluster: Annotated[
        Path | None, typer.Option("--cluster", help="Cluster facts file (YAML or JSON).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="config.json for a model not in the catalog.")
    ] = None,
    hf_token_secret: Annotated[str | None, typer.Option("--hf-token-secret")] = None,
    vllm_version: Annotated[str | None, typer.Option("--vllm-version")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Plan GPUs, parallelism, context, replicas, probes and cost for MODEL."""
    request = _request(
        model=model,
        tier=tier,
        gpu=gpu,
        gpu_count=gpu_count,
        cloud=cloud,
        context_length=context_length,
        quantization=quantization,
        kv_cache_dtype=kv_cache_dtype,
        replicas=replicas,
        usd_per_gpu_hour=usd_per_gpu_hour,
        hf_token_secret=hf_token_secret,
        vllm_version=vllm_version,
    )
    gpu_cat = gpus.load()
    entry = hub.resolve_model(
        model,
        catalog=models.ModelCatalog.load(),
        token=os.environ.get("HF_TOKEN"),
        config_file=config,
    )
    facts = load_facts(cluster) if cluster else None
    result = planner.plan(request, entry, gpus=gpu_cat, instances=instances.load(), facts=facts)
    if as_json:
        output.print_json(result.to_dict())
    else:
        show(result)


def _request(**fields: Any) -> DeploymentRequest:
    from pydantic import ValidationError

    try:
        return DeploymentRequest.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"--{loc.replace('_', '-')}: {msg}" for loc, msg in files.field_errors(exc)
        )
        raise InvalidInputError(
            f"Invalid options: {problems}.", hint="See `kubefoundry plan --help`."
        ) from None


def show(p: Plan) -> None:
    console = output.console()
    summary = Table(title=f"Plan for {p.model_id} — {p.tier} tier", show_header=False)
    summary.add_column(style="bold")
    summary.add_column()
    cost = p.cost
    rows = [
        (
            "GPU",
            f"{p.gpu_count} × {p.gpu} per replica (TP {p.tensor_parallel}, PP "
            f"{p.pipeline_parallel}, {p.nodes_per_replica} node(s))",
        ),
        (
            "Replicas",
            f"{p.replicas} (autoscale {p.autoscaling.min_replicas}–"
            f"{p.autoscaling.max_replicas} on {p.autoscaling.signal})",
        ),
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
