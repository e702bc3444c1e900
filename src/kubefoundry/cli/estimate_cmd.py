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
    from kubefoundry.catalog import architecture, gpus
    from kubefoundry.planning import memory


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
    ] = choices.DEFAULT_VLLM_VERSION,
    block_size: Annotated[int, typer.Option("--block-size", min=1)] = 16,
    input_tokens: Annotated[
        int | None,
        typer.Option("--input-tokens", min=1, help="Mean prompt length, for speed figures."),
    ] = None,
    output_tokens: Annotated[
        int | None,
        typer.Option("--output-tokens", min=1, help="Mean output length, for speed figures."),
    ] = None,
    concurrency: Annotated[
        str | None,
        typer.Option("--concurrency", help="Requests in flight: a number, or max."),
    ] = None,
    request_rate: Annotated[
        float | None,
        typer.Option("--request-rate", help="Mean arrivals, requests per second."),
    ] = None,
    fmt: output.OutputFormat = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Weights, KV cache and token capacity of one vLLM replica (the engine's own arithmetic).

    With --input-tokens, --output-tokens and one of --concurrency or --request-rate, also
    its speed: output tokens/s, requests/s, mean TTFT and TPOT (docs/speed-model.md).
    """
    from kubefoundry.catalog import architecture, gpus
    from kubefoundry.planning import memory, parallelism, precision

    load = _speed_load(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        concurrency=concurrency,
        request_rate=request_rate,
    )
    if load is not None and gpu is None:
        raise InvalidInputError(
            "Speed figures need --gpu: its bandwidth and FLOPS set the speed.",
            hint="Add --gpu H100 (or the GPU you run), in place of --gpu-memory-gib.",
        )
    if (gpu is None) == (gpu_memory_gib is None):
        raise InvalidInputError(
            "Give exactly one of --gpu and --gpu-memory-gib.",
            hint="For example --gpu H100, or --gpu-memory-gib 79.19 for what the GPU reports.",
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
        kv_cache_dtype=kv_cache_dtype,
        vllm_version=vllm_version,
        block_size=block_size,
        gpu_name=gpu_name,
    )
    result = memory.estimate(arch, inputs)
    report = to_report(arch, inputs, result)
    if load is not None and gpu is not None:
        report |= _speed_report(arch, gpus.load().get(gpu), inputs, load)
    if not output.data(report, fmt, as_json=as_json):
        _print_table(report)


def _speed_load(
    *,
    input_tokens: int | None,
    output_tokens: int | None,
    concurrency: str | None,
    request_rate: float | None,
) -> tuple[int, int, float | None, float | None] | None:
    """(I, O, concurrency or None for max, rate) when speed flags were given, else None."""
    given = (input_tokens, output_tokens, concurrency, request_rate)
    if all(flag is None for flag in given):
        return None
    example = "--input-tokens 512 --output-tokens 256 --concurrency 8"
    if concurrency is not None and request_rate is not None:
        raise InvalidInputError(
            "Give one of --concurrency and --request-rate, not both.",
            hint="--concurrency N for N requests in flight, --request-rate R for R per second.",
        )
    if input_tokens is None or output_tokens is None:
        missing = "--input-tokens" if input_tokens is None else "--output-tokens"
        raise InvalidInputError(f"Speed figures need {missing}.", hint=f"For example {example}.")
    if concurrency is None and request_rate is None:
        raise InvalidInputError(
            "Speed figures need --concurrency N, --concurrency max or --request-rate R.",
            hint=f"For example {example}.",
        )
    if request_rate is not None:
        if not request_rate > 0:
            raise InvalidInputError(
                f"--request-rate must be above 0, not {request_rate}.",
                hint="Give the mean arrivals per second, e.g. --request-rate 2.5.",
            )
        return input_tokens, output_tokens, None, request_rate
    if concurrency == "max":
        return input_tokens, output_tokens, None, None
    try:
        n = int(concurrency or "")
    except ValueError:
        n = 0
    if n < 1:
        raise InvalidInputError(
            f"--concurrency must be a whole number from 1, or max; not {concurrency!r}.",
            hint="For example --concurrency 8, or --concurrency max.",
        )
    return input_tokens, output_tokens, float(n), None


def _speed_report(
    arch: architecture.ModelArch,
    card: gpus.GPU,
    inputs: memory.MemoryInputs,
    load: tuple[int, int, float | None, float | None],
) -> dict[str, Any]:
    from kubefoundry.planning import speed

    input_tokens, output_tokens, concurrency, rate = load
    replica = speed.replica(arch, card, inputs)
    work = speed.Workload(input_tokens=input_tokens, output_tokens=output_tokens)
    if rate is not None:
        got = speed.at_rate(replica, work, rate)
    elif concurrency is not None:
        got = speed.at_concurrency(replica, work, concurrency)
    else:
        got = speed.at_max(replica, work)
    return {
        "output_tokens_per_s": round(got.output_tokens_per_s, 1),
        "requests_per_s": round(got.requests_per_s, 3),
        "ttft_ms": round(got.ttft_s * 1e3, 1),
        "tpot_ms": round(got.tpot_s * 1e3, 2),
        "concurrency": round(got.concurrency, 2),
        "saturated": got.saturated,
    }


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
        "output_tokens_per_s",
        "requests_per_s",
        "ttft_ms",
        "tpot_ms",
        "concurrency",
    ):
        if key in report:
            table.add_row(key, str(report[key]))
    output.console().print(table)
    for warning in report["warnings"]:
        output.console().print(f"[yellow]warning:[/] {warning}", markup=True)
