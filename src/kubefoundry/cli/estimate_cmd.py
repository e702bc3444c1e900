"""``kubefoundry estimate``: vLLM's memory budget for one replica, from a config.json.

The interface is fixed (outside checks call it); see ``docs/memory-model.md`` for the model.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kubefoundry.cli import output
from kubefoundry.core import choices
from kubefoundry.core.errors import InvalidInputError

if TYPE_CHECKING:
    from kubefoundry.catalog import architecture
    from kubefoundry.planning import memory

# The default of --vllm-version, written here so that --help needs no planning import; a
# test keeps it equal to planning.engine_profiles.DEFAULT_VLLM_VERSION.
DEFAULT_VLLM_VERSION = "0.19.0"


def load_config(path: Path) -> dict[str, Any]:
    """Read a ``config.json`` (or the one inside a model directory) with clear errors."""
    if path.is_dir():
        path = path / "config.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidInputError(
            f"No such file: {path}.", hint="Pass the path of the model's config.json."
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            f"{path} is not valid JSON: {exc}.", hint="Pass the model's config.json unchanged."
        ) from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path} does not hold a JSON object.", hint="Pass a config.json.")
    return data


def estimate(
    config: Annotated[Path, typer.Option("--config", help="The model's config.json.")],
    tensor_parallel: Annotated[int, typer.Option("--tensor-parallel", min=1)],
    gpu_memory_utilization: Annotated[
        float, typer.Option("--gpu-memory-utilization", min=0.05, max=1.0)
    ],
    max_model_len: Annotated[int, typer.Option("--max-model-len", min=1)],
    gpu: Annotated[str | None, typer.Option("--gpu", help="GPU name, e.g. H100, L4.")] = None,
    gpu_memory_gib: Annotated[
        float | None,
        typer.Option(
            "--gpu-memory-gib", min=1.0, help="Total GPU memory as the GPU reports it, GiB."
        ),
    ] = None,
    pipeline_parallel: Annotated[int, typer.Option("--pipeline-parallel", min=1)] = 1,
    dtype: Annotated[
        choices.DtypeFlag,
        typer.Option("--dtype", help="Activation and weight dtype."),
    ] = "auto",
    quantization: Annotated[
        choices.QuantFlag,
        typer.Option("--quantization", help="Quantization method."),
    ] = "none",
    kv_cache_dtype: Annotated[
        choices.KvCacheDtype, typer.Option("--kv-cache-dtype", help="KV cache dtype.")
    ] = "auto",
    vllm_version: Annotated[
        str, typer.Option("--vllm-version", help="vLLM release whose start-up to model.")
    ] = DEFAULT_VLLM_VERSION,
    block_size: Annotated[int, typer.Option("--block-size", min=1)] = 16,
    fmt: output.OutputFormat = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Weights, KV cache and token capacity of one vLLM replica (the engine's own arithmetic)."""
    from kubefoundry.catalog import architecture, gpus
    from kubefoundry.planning import memory, parallelism, precision

    if (gpu is None) == (gpu_memory_gib is None):
        raise InvalidInputError(
            "Give exactly one of --gpu and --gpu-memory-gib.",
            hint="For example --gpu H100, or --gpu-memory-gib 79.19 for what the GPU reports.",
        )
    if kv_cache_dtype not in ("auto", "fp8"):
        raise InvalidInputError(
            f"Unknown KV-cache dtype {kv_cache_dtype!r}.", hint="Use auto or fp8."
        )
    arch = architecture.from_hf_config(load_config(config))
    gpu_name, total, bf16 = "", gpu_memory_gib or 0.0, True
    if gpu is not None:
        card = gpus.load().get(gpu)
        gpu_name, total, bf16 = card.id, card.cuda_total_gib, card.bf16_supported
    quant = precision.resolve_quantization(quantization, arch)
    problems = parallelism.tp_problems(arch, tensor_parallel, quant)
    problems += parallelism.pp_problems(arch, pipeline_parallel)
    if problems:
        sizes = parallelism.valid_tp_sizes(arch, quantization=quant)
        raise InvalidInputError(
            f"vLLM would refuse --tensor-parallel {tensor_parallel} "
            f"--pipeline-parallel {pipeline_parallel}: " + "; ".join(problems) + ".",
            hint=f"Valid tensor-parallel sizes for this model: {sizes}.",
        )
    inputs = memory.MemoryInputs(
        gpu_total_gib=total,
        tp=tensor_parallel,
        pp=pipeline_parallel,
        gpu_memory_utilization=gpu_memory_utilization,
        max_model_len=max_model_len,
        dtype=precision.resolve_dtype(dtype, arch, bf16_supported=bf16),
        quantization=quant,
        kv_cache_dtype="fp8" if kv_cache_dtype == "fp8" else "auto",
        vllm_version=vllm_version,
        block_size=block_size,
        gpu_name=gpu_name,
    )
    result = memory.estimate(arch, inputs)
    report = to_report(arch, inputs, result)
    if not output.data(report, fmt, as_json=as_json):
        _print_table(report)


def to_report(
    arch: architecture.ModelArch, inputs: memory.MemoryInputs, est: memory.MemoryEstimate
) -> dict[str, Any]:
    warnings = []
    if not est.fits:
        warnings.append(
            f"max-model-len {inputs.max_model_len} needs more KV cache than the "
            f"{est.kv_tokens} tokens available: vLLM will refuse to start. The largest "
            f"context that fits is {est.max_context_fits}."
        )
    if inputs.max_model_len > arch.max_position_embeddings:
        warnings.append(
            f"max-model-len {inputs.max_model_len} exceeds the model's "
            f"max_position_embeddings {arch.max_position_embeddings}."
        )
    return {
        "weights_gib": round(est.weights_gib, 3),
        "kv_cache_gib": round(est.kv_cache_gib, 3),
        "kv_tokens": est.kv_tokens,
        "max_concurrency": est.max_concurrency,
        "fits": est.fits,
        "max_context_fits": est.max_context_fits,
        "activation_peak_gib": round(est.activation_peak_gib, 3),
        "non_torch_gib": round(est.non_torch_gib, 3),
        "budget_gib": round(est.budget_gib, 3),
        "kv_bytes_per_token": est.kv_bytes_per_token,
        "kv_groups": est.kv_groups,
        "attention": arch.attention_family,
        "dtype": inputs.dtype,
        "quantization": inputs.quantization.method if inputs.quantization else "none",
        "kv_cache_dtype": inputs.kv_cache_dtype,
        "tensor_parallel": inputs.tp,
        "pipeline_parallel": inputs.pp,
        "max_num_seqs": est.max_num_seqs,
        "max_num_batched_tokens": est.max_num_batched_tokens,
        "engine_profile": est.engine,
        "stages": [dataclasses.asdict(s) for s in est.stages],
        "warnings": warnings,
    }


def _print_table(report: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="vLLM memory per GPU", show_header=False)
    for key in (
        "budget_gib",
        "weights_gib",
        "activation_peak_gib",
        "non_torch_gib",
        "kv_cache_gib",
        "kv_tokens",
        "max_concurrency",
        "max_context_fits",
        "attention",
        "dtype",
        "quantization",
        "engine_profile",
    ):
        table.add_row(key, str(report[key]))
    output.console().print(table)
    for warning in report["warnings"]:
        output.console().print(f"[yellow]warning:[/] {warning}", markup=True)
