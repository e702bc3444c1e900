"""``kubefoundry render MODEL``: the objects for any runtime, checked, as YAML, Helm or kustomize.

Without ``-o`` the YAML goes to stdout (pipe it to ``kubectl apply -f -``) and the decisions
and warnings to stderr. With ``-o DIR`` the objects are written for GitOps in ``--format``.
Every object is checked against the real schemas and the pitfall rules first; errors stop
the render unless ``--no-check``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kubefoundry.cli import output, requesting
from kubefoundry.core.errors import InvalidInputError
from kubefoundry.deploy import rendering
from kubefoundry.runtimes import base, export


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
        str, typer.Option("--format", help="yaml | helm | kustomize (with -o)")
    ] = "yaml",
    out: Annotated[
        Path | None, typer.Option("--output", "-o", help="Directory to write; stdout if absent.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite files in -o DIR.")] = False,
    expose: Annotated[
        str, typer.Option("--expose", help="none | httproute | ingress | apisix")
    ] = "none",
    host: Annotated[str | None, typer.Option("--host", help="Hostname for the route.")] = None,
    gateway: Annotated[
        str, typer.Option("--gateway", help="Gateway the HTTPRoute attaches to.")
    ] = "inference-gateway",
    monitoring: Annotated[
        str, typer.Option("--monitoring", help="servicemonitor | podmonitor | none")
    ] = "servicemonitor",
    token_source: Annotated[
        str, typer.Option("--token-source", help="secret | external-secret")
    ] = "secret",
    secret_store: Annotated[
        str, typer.Option("--secret-store", help="ClusterSecretStore for --token-source.")
    ] = "vault-backend",
    token_path: Annotated[
        str, typer.Option("--token-path", help="Remote key of the token in the secret store.")
    ] = "secret/shared/huggingface/token",
    model_cache: Annotated[
        bool, typer.Option("--model-cache/--no-model-cache", help="Cache weights on a PVC.")
    ] = True,
    cache_size: Annotated[int | None, typer.Option("--cache-size", help="PVC size in GiB.")] = None,
    storage_class: Annotated[str | None, typer.Option("--storage-class")] = None,
    disaggregated: Annotated[
        bool, typer.Option("--disaggregated", help="Split prefill and decode (dynamo, llmd).")
    ] = False,
    workload: Annotated[
        str, typer.Option("--workload", help="chat | rag | agent | batch (routing choices)")
    ] = "chat",
    platform: Annotated[
        str | None, typer.Option("--platform", help="kserve: nvidia | xeon | gaudi | gaudi3")
    ] = None,
    llm_inference_service: Annotated[
        bool, typer.Option("--llm-inference-service", help="kserve: LLMInferenceService (llm-d).")
    ] = False,
    multi_node: Annotated[str, typer.Option("--multi-node", help="lws: ray | native")] = "ray",
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="Check the objects before writing.")
    ] = True,
) -> None:
    """Render the Kubernetes objects that serve MODEL on a runtime, checked and explained."""
    request = requesting.from_flags(file, locals())
    options = _options(
        expose=expose,
        host=host,
        gateway=gateway,
        monitoring=monitoring,
        token=base.TokenOptions(
            source="external-secret"
            if _one_of("--token-source", token_source, ("secret", "external-secret"))
            == "external-secret"
            else "secret",
            store=secret_store,
            remote_key=token_path,
            secret_name=request.hf_token_secret,
        ),
        cache=base.CacheOptions(
            enabled=model_cache, size_gib=cache_size, storage_class=storage_class
        ),
        disaggregated=disaggregated,
        workload=workload,
        platform=platform,
        llm_inference_service=llm_inference_service,
        multi_node=multi_node,
    )
    form = export.parse_format(fmt)
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


def _one_of(flag: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidInputError(
            f"{flag} {value!r} is not one of: {', '.join(allowed)}.",
            hint=f"Use {flag} " + " | ".join(allowed) + ".",
        )
    return value


def _options(**fields: Any) -> base.Options:
    for flag, key, allowed in (
        ("--expose", "expose", ("none", "httproute", "ingress", "apisix")),
        ("--monitoring", "monitoring", ("none", "servicemonitor", "podmonitor")),
        ("--workload", "workload", ("chat", "rag", "agent", "batch")),
        ("--multi-node", "multi_node", ("ray", "native")),
    ):
        _one_of(flag, fields[key], allowed)
    if fields["platform"] is not None:
        _one_of("--platform", fields["platform"], ("nvidia", "xeon", "gaudi", "gaudi3"))
    fields["exposure"] = fields.pop("expose")
    return base.Options(**fields)
