"""``kubefoundry catalog`` and ``kubefoundry gpus``: what the planner knows, as tables or JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from kubefoundry.cli import output

if TYPE_CHECKING:
    from kubefoundry.catalog import gpus as gpu_catalog
    from kubefoundry.catalog import models


def catalog(
    family: Annotated[str | None, typer.Option("--family", help="Only this family.")] = None,
    fmt: output.OutputFormat = None,
    as_json: output.JsonFlag = False,
) -> None:
    """List the curated models."""
    from kubefoundry.catalog import models

    entries = [
        e
        for e in models.ModelCatalog.load().all()
        if family is None or e.family.lower() == family.lower()
    ]
    if output.data([_model_row(e) for e in entries], fmt, as_json=as_json):
        return
    columns = (
        output.Column("model", identifier=True),
        output.Column("Hugging Face id", identifier=True, drop=7),
        output.Column("params", justify="right"),
        output.Column("attention", drop=3),
        output.Column("dtype", drop=4),
        output.Column("context", justify="right"),
        output.Column("gated"),
        output.Column("license", drop=5),
        output.Column("engines", drop=6),
    )
    rows = []
    for e in entries:
        row = _model_row(e)
        rows.append(
            (
                e.aliases[0] if e.aliases else e.id,
                e.id,
                f"{row['params_b']:.1f}B",
                row["attention"],
                row["native_dtype"],
                f"{row['context_length']:,}",
                "yes" if e.gated else "",
                row["license"],
                ", ".join(row["engines"]),
            )
        )
    title = f"Model catalog ({len(entries)} models): plan MODEL takes either name"
    table = output.fitted_table(title, columns, rows)
    output.console().print(table)


def _model_row(e: models.ModelEntry) -> dict[str, Any]:
    from kubefoundry.deploy import views

    return views.model_row(e)


def gpus(fmt: output.OutputFormat = None, as_json: output.JsonFlag = False) -> None:
    """List the GPUs the planner knows, with memory, bandwidth and compute."""
    from kubefoundry.catalog import gpus as gpu_catalog

    cards = gpu_catalog.load().all()
    if output.data([_gpu_row(g) for g in cards], fmt, as_json=as_json):
        return
    columns = (
        output.Column("gpu", identifier=True),
        output.Column("vendor", drop=5),
        output.Column("memory GB", justify="right", drop=2),
        output.Column("CUDA GiB", justify="right"),
        output.Column("GB/s", justify="right"),
        output.Column("bf16 TFLOPS", justify="right"),
        output.Column("fp8 TFLOPS", justify="right", drop=3),
        output.Column("resource", drop=4),
    )
    rows = [
        (
            g.id,
            g.vendor,
            f"{g.memory_gb:g}",
            f"{g.cuda_total_gib:.2f}",
            f"{g.memory_bandwidth_gbps:,.0f}",
            _num(g.dense_tflops("bf16")),
            _num(g.dense_tflops("fp8")),
            g.resource_name,
        )
        for g in cards
    ]
    table = output.fitted_table("GPUs (--gpu takes the first column)", columns, rows)
    output.console().print(table)


def _gpu_row(g: gpu_catalog.GPU) -> dict[str, Any]:
    from kubefoundry.deploy import views

    return views.gpu_row(g)


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"
