"""``kubefoundry render MODEL``: the objects for any runtime, checked, as YAML, Helm or kustomize.

Without ``-o`` the YAML goes to stdout (pipe it to ``kubectl apply -f -``) and the decisions
and warnings to stderr. With ``-o DIR`` the objects are written for GitOps in ``--format``.
Every object is checked against the real schemas and the pitfall rules first; errors stop
the render unless ``--no-check``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kubefoundry.cli import output, requesting, serving
from kubefoundry.core import choices
from kubefoundry.core.errors import InvalidInputError


def render(
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
    cluster: requesting.Cluster = None,
    config: requesting.Config = None,
    hf_token_secret: requesting.HfTokenSecret = None,
    vllm_version: requesting.VllmVersion = None,
    fmt: Annotated[
        choices.ExportFormat,
        typer.Option("--format", help="What -o DIR holds: plain YAML files, a chart, a base."),
    ] = "yaml",
    out_arg: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", metavar="DIR", help="Directory to write; YAML on stdout if absent."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite files in -o DIR.")] = False,
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
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="Check the objects before writing.")
    ] = True,
) -> None:
    """Render the Kubernetes objects that serve MODEL on a runtime, checked and explained."""
    from kubefoundry.deploy import rendering
    from kubefoundry.runtimes import base

    out = _directory(out_arg)
    request = requesting.from_flags(file, locals())
    options = base.Options.from_spec(request)
    form = fmt  # Typer already refused anything but yaml, helm and kustomize
    if form != "yaml" and out is None:
        raise InvalidInputError(f"--format {form} writes a directory.", hint="Add -o DIR.")
    entry = requesting.resolve(request, config=config)
    result = rendering.render(request, entry, options=options, facts=requesting.facts(cluster))
    output.explain_render(result)
    findings = rendering.check(result, facts=requesting.facts(cluster)) if check else []
    output.findings(findings)
    if any(f.severity.is_error for f in findings):
        raise typer.Exit(1)
    if out is None:
        output.print_yaml(result.rendered.manifests)
        return
    written = rendering.write(result, fmt=form, directory=out, force=force)
    output.wrote(written, directory=out)


def _directory(out: str | None) -> Path | None:
    """``-o``'s directory. ``-o json`` means a format elsewhere in the CLI; here -o names a
    directory, so a bare format name that is not an existing directory is refused, not made
    into a folder (``-o ./json/`` still writes there)."""
    if out is None or out not in ("json", "yaml", "helm", "kustomize") or Path(out).is_dir():
        return None if out is None else Path(out)
    if out in ("helm", "kustomize"):
        hint = f"For a {out} export pass --format {out} -o DIR."
    else:
        hint = f"render prints YAML on stdout without -o; -o takes a directory (-o ./{out}/)."
    raise InvalidInputError(f"-o {out}: render writes to a directory, not a format.", hint=hint)
