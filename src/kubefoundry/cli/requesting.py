"""The deployment request from the command line: the same fields as a request file.

``plan``, ``render`` (and ``deploy``) take the same pins. ``-f FILE`` reads a request file
(the API's schema); flags given on the command line override its fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kubefoundry.core import choices
from kubefoundry.core.errors import InvalidInputError

if TYPE_CHECKING:  # imported when a command runs: --help needs none of them
    from kubefoundry.catalog import hub
    from kubefoundry.catalog.models import ModelEntry
    from kubefoundry.core.facts import ClusterFacts
    from kubefoundry.core.spec import DeploymentSpec

Model = Annotated[
    str | None,
    typer.Argument(help="Catalog name or any Hugging Face model id.", show_default=False),
]
RequestFile = Annotated[
    Path | None, typer.Option("--file", "-f", help="Request file (YAML/JSON); flags override it.")
]
Tier = Annotated[
    choices.Tier | None,
    typer.Option("--tier", help="Cost, balanced or latency first (default: better)."),
]
Gpu = Annotated[str | None, typer.Option("--gpu", help="Pin a GPU type (see `gpus`).")]
GpuCount = Annotated[
    int | None, typer.Option("--gpu-count", min=1, max=64, help="GPUs per replica.")
]
Cloud = Annotated[
    choices.Cloud | None,
    typer.Option("--cloud", help="Price with this cloud's list (onprem: --usd-per-gpu-hour)."),
]
ContextLength = Annotated[
    int | None,
    typer.Option("--context-length", min=256, help="Longest request accepted, in tokens."),
]
Quantization = Annotated[
    choices.QuantFlag | None,
    typer.Option("--quantization", help="Weights' precision (default: the checkpoint's)."),
]
KvCacheDtype = Annotated[
    choices.KvCacheDtype | None, typer.Option("--kv-cache-dtype", help="KV cache precision.")
]
Replicas = Annotated[
    int | None, typer.Option("--replicas", min=1, max=100, help="Replicas to start with.")
]
UsdPerGpuHour = Annotated[
    float | None,
    typer.Option("--usd-per-gpu-hour", min=0.01, help="Your own GPU price (on-prem), $/h."),
]
Cluster = Annotated[
    Path | None, typer.Option("--cluster", help="Cluster facts file (YAML or JSON).")
]
Config = Annotated[
    Path | None, typer.Option("--config", help="config.json for a model not in the catalog.")
]
HfTokenSecret = Annotated[
    str | None, typer.Option("--hf-token-secret", help="Secret holding the Hugging Face token.")
]
VllmVersion = Annotated[
    str | None, typer.Option("--vllm-version", help="vLLM release to plan for (e.g. 0.19.0).")
]
Runtime = Annotated[str | None, typer.Option("--runtime", help="Pin a runtime (see `runtimes`).")]
Name = Annotated[
    str | None, typer.Option("--name", help="Deployment name (defaults to the model's).")
]
Namespace = Annotated[str | None, typer.Option("--namespace", "-n")]
Kubeconfig = Annotated[Path | None, typer.Option("--kubeconfig", help="Path to a kubeconfig.")]
Context = Annotated[str | None, typer.Option("--context", help="Kubeconfig context to use.")]


def connect(kubeconfig: Path | None, context: str | None, namespace: str | None) -> Any:
    """The connection the cluster commands act through (the engine imported only here)."""
    from kubefoundry.cluster import connecting

    return connecting.connect(
        connecting.Target(kubeconfig=kubeconfig, context=context, namespace=namespace)
    )


# The workload (request field ``workload``): a named profile and any of its figures replaced.
Workload = Annotated[
    choices.Workload | None,
    typer.Option("--workload", help="Traffic profile (default chat): lengths and targets."),
]
InputTokens = Annotated[
    int | None, typer.Option("--input-tokens", min=1, help="Mean prompt length, tokens.")
]
OutputTokens = Annotated[
    int | None, typer.Option("--output-tokens", min=1, help="Mean output length, tokens.")
]
InputTokensP90 = Annotated[
    int | None, typer.Option("--input-tokens-p90", min=1, help="90th percentile prompt.")
]
OutputTokensP90 = Annotated[
    int | None, typer.Option("--output-tokens-p90", min=1, help="90th percentile output.")
]
RequestsPerSecond = Annotated[
    float | None,
    typer.Option("--requests-per-second", min=0.0001, help="Peak load as a request rate."),
]
ConcurrentUsers = Annotated[
    int | None,
    typer.Option("--concurrent-users", min=1, help="Peak load: users with a request in flight."),
]
TtftMs = Annotated[
    float | None, typer.Option("--ttft-ms", min=1, help="Target mean time to first token.")
]
TpotMs = Annotated[
    float | None, typer.Option("--tpot-ms", min=0.1, help="Target mean time per output token.")
]
TtftP95Ms = Annotated[
    float | None, typer.Option("--ttft-p95-ms", min=1, help="Target p95 time to first token.")
]
TpotP95Ms = Annotated[
    float | None,
    typer.Option("--tpot-p95-ms", min=0.1, help="Target p95 time per output token."),
]

# The spec field each nested flag sets (top-level flags are named as their field). A flag's
# parameter name is its flag without the dashes: `--requests-per-second` → requests_per_second.
NESTED_FLAGS = {
    "workload": "workload.profile",
    "input_tokens": "workload.input_tokens",
    "output_tokens": "workload.output_tokens",
    "input_tokens_p90": "workload.input_tokens_p90",
    "output_tokens_p90": "workload.output_tokens_p90",
    "requests_per_second": "workload.requests_per_s",
    "concurrent_users": "workload.concurrent_users",
    "ttft_ms": "workload.ttft_ms",
    "tpot_ms": "workload.tpot_ms",
    "ttft_p95_ms": "workload.ttft_p95_ms",
    "tpot_p95_ms": "workload.tpot_p95_ms",
    "expose": "serving.exposure",
    "host": "serving.host",
    "gateway": "serving.gateway",
    "monitoring": "serving.monitoring",
    "prometheus": "serving.prometheus",
    "token_source": "serving.token.source",
    "secret_store": "serving.token.secret_store",
    "token_path": "serving.token.remote_key",
    "model_cache": "serving.cache.enabled",
    "cache_size": "serving.cache.size_gib",
    "storage_class": "serving.cache.storage_class",
    "disaggregated": "serving.disaggregated",
    "platform": "serving.platform",
    "llm_inference_service": "serving.llm_inference_service",
    "multi_node": "serving.multi_node",
}
_FLAG_OF_FIELD = {field: flag for flag, field in NESTED_FLAGS.items()}


def build(file: Path | None, **flags: Any) -> DeploymentSpec:
    """The spec from ``file`` (if any) with every flag that was given laid over it.

    A problem is named as the user gave it: the flag, or the field of the file.
    """
    from kubefoundry.core import spec

    base = spec.load(file).model_dump(exclude_none=True) if file else {}
    merged = dict(base)
    given: set[str] = set()
    for key, value in flags.items():
        if value is None:
            continue
        field = NESTED_FLAGS.get(key, key)
        _put(merged, field.split("."), value)
        given.add(field)
    if "model" not in merged:
        raise InvalidInputError(
            "No model given.", hint="Pass MODEL (e.g. llama-3.1-8b) or -f spec.yaml."
        )
    try:
        return spec.parse(merged)
    except spec.SpecError as err:
        problems = "; ".join(
            f"{_named(p.field, given, file)}: {p.message} (got {p.value!r})" for p in err.problems
        )
        raise InvalidInputError(
            f"Invalid options: {problems}.",
            hint="See `kubefoundry plan --help`, or docs/deployment-spec.schema.json for the file.",
        ) from None


def _put(tree: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        tree = tree.setdefault(part, {})
    tree[path[-1]] = value


def flag_of(field: str) -> str | None:
    """The flag that sets a spec field (``workload.ttft_ms`` → ``--ttft-ms``); None for a path
    that is no field a flag sets (the model is an argument; a section is set field by field)."""
    from kubefoundry.core.spec import DeploymentSpec

    if field in _FLAG_OF_FIELD:
        return "--" + _FLAG_OF_FIELD[field].replace("_", "-")
    if field in DeploymentSpec.model_fields and field not in ("model", "workload", "serving"):
        return "--" + field.replace("_", "-")
    return None


def _named(field: str, given: set[str], file: Path | None) -> str:
    """The flag for a field the command line set; else the field in the file."""
    if field in ("workload", "serving"):  # a rule across the section's fields
        return field if file is None else f"{field} in {file}"
    if field in given or file is None:
        flag = _FLAG_OF_FIELD.get(field, field)
        if "." not in flag:
            return "--" + flag.replace("_", "-")
    if file is not None:
        return f"{field or '(root)'} in {file}"
    return field


def from_flags(file: Path | None, flags: dict[str, Any]) -> DeploymentSpec:
    """The spec from a command's flags (its ``locals()``): only spec fields are taken."""
    from kubefoundry.core.spec import DeploymentSpec

    fields = (set(DeploymentSpec.model_fields) - {"workload", "serving"}) | set(NESTED_FLAGS)
    return build(file, **{k: v for k, v in flags.items() if k in fields})


def resolve(
    request: DeploymentSpec, *, config: Path | None, reach: hub.Reach | None = None
) -> ModelEntry:
    """The model's entry: the catalog, ``--config FILE``, or the Hub (``HF_HUB_OFFLINE`` and
    ``HF_TOKEN`` read here, once; pass ``reach`` to share what was learnt with later calls)."""
    from kubefoundry.deploy import rendering

    return rendering.model_entry(request.model, config=config, reach=reach)


def facts(path: Path | None) -> ClusterFacts | None:
    from kubefoundry.core.facts import load_facts

    return load_facts(path) if path else None
