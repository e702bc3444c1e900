"""Engine sizing rules: context vs GPU memory, parallelism vs GPUs requested."""

from __future__ import annotations

from collections.abc import Iterator

from kubefoundry.checks import sizing
from kubefoundry.checks.context import Context
from kubefoundry.checks.documents import Document
from kubefoundry.checks.findings import Finding, Severity
from kubefoundry.checks.sites import EngineSite, engine_sites
from kubefoundry.planning import parallelism

MAX_MODEL_LEN_EXCEEDS_MEMORY = "max-model-len-exceeds-memory"
PARALLELISM_GPU_MISMATCH = "parallelism-gpu-mismatch"


def max_model_len(doc: Document, ctx: Context) -> Iterator[Finding]:
    for site in engine_sites(doc, ctx):
        wanted = site.engine.max_model_len
        if not (site.engine.is_vllm and wanted and site.model and site.hardware):
            continue
        fit = sizing.fit(
            site.model,
            site.hardware.gpu,
            site.engine,
            max_model_len=wanted,
            default_utilization=site.default_utilization,
        )
        if fit is None or fit.max_context >= wanted:
            continue
        yield _too_long(doc, site, fit, wanted)


def _too_long(doc: Document, site: EngineSite, fit: sizing.Fit, wanted: int) -> Finding:
    assert site.hardware is not None
    assert site.model is not None
    est, inputs = fit.estimate, fit.inputs
    gpus = inputs.tp * inputs.pp
    where = (
        f"{gpus} × {site.hardware.gpu.id} ({site.hardware.gpu.cuda_total_gib:.0f} GiB, "
        f"from {site.hardware.source}) at gpu-memory-utilization {inputs.gpu_memory_utilization:g}"
    )
    more = site.flag("tensor-parallel-size", inputs.tp * 2)
    if est.max_context_fits <= 0:
        return doc.finding(
            MAX_MODEL_LEN_EXCEEDS_MEMORY,
            Severity.ERROR,
            message=f"{site.model.id} does not fit on {where}: {est.weights_gib:.1f} GiB of "
            f"weights per GPU leave no room for the KV cache, so vLLM exits at start-up "
            "(or the pod is OOM-killed).",
            fix=f"Give the engine more GPUs ({more} with as many GPUs requested), a larger "
            "GPU, or a quantized checkpoint.",
            path=site.path,
        )
    best = sizing.round_down(est.max_context_fits)
    return doc.finding(
        MAX_MODEL_LEN_EXCEEDS_MEMORY,
        Severity.ERROR,
        message=f"max-model-len {wanted:,} does not fit {site.model.id} on {where}: after "
        f"{est.weights_gib:.1f} GiB of weights per GPU the KV cache holds "
        f"{est.kv_tokens:,} tokens, and one request of {wanted:,} needs more. vLLM refuses to "
        "start ('larger than the available KV cache memory').",
        fix=f"Set {site.flag('max-model-len', best)} (the largest that fits is "
        f"{est.max_context_fits:,}), or give the engine more GPUs ({more} with as many GPUs "
        "requested), or use an FP8 KV cache (kv-cache-dtype fp8).",
        path=site.path,
    )


def parallelism_gpus(doc: Document, ctx: Context) -> Iterator[Finding]:
    for site in engine_sites(doc, ctx):
        engine = site.engine
        if not engine.is_vllm or site.gpus is None or site.gpus <= 0:
            continue
        explicit = engine.tp is not None or engine.pp is not None or engine.dp is not None
        world = engine.world
        if world == site.gpus or (not explicit and not engine.model):
            continue
        settings = (
            f"tensor-parallel-size {engine.tp or 1} × pipeline-parallel-size {engine.pp or 1}"
            + (f" × data-parallel-size {engine.dp}" if engine.dp else "")
            + f" = {world}"
        )
        if world > site.gpus:
            yield doc.finding(
                PARALLELISM_GPU_MISMATCH,
                Severity.ERROR,
                message=f"{settings} GPUs, but {site.group} gets {site.gpus}: vLLM fails at "
                "start-up (or waits for GPUs that never come).",
                fix=_fix(site, world),
                path=site.path,
            )
        else:
            yield doc.finding(
                PARALLELISM_GPU_MISMATCH,
                Severity.WARNING,
                message=f"{site.group.capitalize()} gets {site.gpus} GPUs but {settings}"
                + ("" if explicit else " (no --tensor-parallel-size given)")
                + f": {site.gpus - world} GPU(s) are paid for and never used.",
                fix=_fix(site, world),
                path=site.path,
            )
    yield from _tp_allowed(doc, ctx)


def _fix(site: EngineSite, world: int) -> str:
    """Change the stage count when pipeline stages span pods, else the tensor-parallel size."""
    assert site.gpus is not None
    tp, pp, dp = site.engine.tp or 1, site.engine.pp or 1, site.engine.dp or 1
    options = [f"request {world} GPU(s) for {site.group}"]
    if pp > 1 and site.gpus % (tp * dp) == 0:
        options.insert(0, f"set {site.flag('pipeline-parallel-size', site.gpus // (tp * dp))}")
    elif site.gpus % (pp * dp) == 0:
        options.insert(0, f"set {site.flag('tensor-parallel-size', site.gpus // (pp * dp))}")
    return "Make them equal: " + ", or ".join(options) + "."


def _tp_allowed(doc: Document, ctx: Context) -> Iterator[Finding]:
    for site in engine_sites(doc, ctx):
        tp, model = site.engine.tp, site.model
        if not site.engine.is_vllm or not tp or tp == 1 or model is None:
            continue
        problems = parallelism.tp_problems(model.arch, tp)
        if problems:
            sizes = parallelism.valid_tp_sizes(model.arch)
            yield doc.finding(
                PARALLELISM_GPU_MISMATCH,
                Severity.ERROR,
                message=f"vLLM refuses tensor-parallel-size {tp} for {model.id}: "
                + "; ".join(problems)
                + ".",
                fix=f"Use a tensor-parallel size of {', '.join(map(str, sizes))} (and as many "
                "GPUs), adding pipeline-parallel stages for the rest.",
                path=site.path,
            )
