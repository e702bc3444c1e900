"""The deployment request from the command line: the same fields as a request file.

``plan``, ``render`` (and ``deploy``) take the same pins. ``-f FILE`` reads a request file
(the API's schema); flags given on the command line override its fields.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kubefoundry.core import choices
from kubefoundry.core.errors import InvalidInputError

if TYPE_CHECKING:  # imported when a command runs: --help needs none of them
    from kubefoundry.catalog import hub
    from kubefoundry.catalog.models import ModelEntry
    from kubefoundry.core.facts import ClusterFacts
    from kubefoundry.planning.request import DeploymentRequest

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

# Command-line name of each workload field (the flag is not always the field's name).
WORKLOAD_FLAGS = {
    "workload": "profile",
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "input_tokens_p90": "input_tokens_p90",
    "output_tokens_p90": "output_tokens_p90",
    "requests_per_second": "requests_per_s",
    "concurrent_users": "concurrent_users",
    "ttft_ms": "ttft_ms",
    "tpot_ms": "tpot_ms",
    "ttft_p95_ms": "ttft_p95_ms",
    "tpot_p95_ms": "tpot_p95_ms",
}
_FLAG_OF_FIELD = {f"workload.{field}": flag for flag, field in WORKLOAD_FLAGS.items()}


def build(file: Path | None, **flags: Any) -> DeploymentRequest:
    """The request from ``file`` (if any) with every flag that was given laid over it."""
    from pydantic import ValidationError

    from kubefoundry.core import files
    from kubefoundry.planning.request import DeploymentRequest, load_request

    base = load_request(file).model_dump(exclude_none=True) if file else {}
    given = {k: v for k, v in flags.items() if v is not None and k not in WORKLOAD_FLAGS}
    workload = {
        WORKLOAD_FLAGS[k]: v for k, v in flags.items() if v is not None and k in WORKLOAD_FLAGS
    }
    if workload:
        given["workload"] = {**base.get("workload", {}), **workload}
    if "model" not in given and "model" not in base:
        raise InvalidInputError(
            "No model given.", hint="Pass MODEL (e.g. llama-3.1-8b) or -f request.yaml."
        )
    try:
        return DeploymentRequest.model_validate({**base, **given})
    except ValidationError as exc:
        problems = "; ".join(f"{_flag(loc)}: {msg}" for loc, msg in files.field_errors(exc))
        raise InvalidInputError(
            f"Invalid options: {problems}.", hint="See `kubefoundry plan --help`."
        ) from None


def _flag(loc: str) -> str:
    """The command-line flag of a request field's dotted path."""
    if loc in _FLAG_OF_FIELD:
        return "--" + _FLAG_OF_FIELD[loc].replace("_", "-")
    if loc == "workload":
        return "workload"
    return f"--{loc.replace('_', '-')}"


def from_flags(file: Path | None, flags: dict[str, Any]) -> DeploymentRequest:
    """The request from a command's flags (its ``locals()``): only request fields are taken."""
    from kubefoundry.planning.request import DeploymentRequest

    fields = set(DeploymentRequest.model_fields) | set(WORKLOAD_FLAGS)
    return build(file, **{k: v for k, v in flags.items() if k in fields})


def resolve(
    request: DeploymentRequest, *, config: Path | None, reach: hub.Reach | None = None
) -> ModelEntry:
    """The model's entry: the catalog, ``--config FILE``, or the Hub (``HF_HUB_OFFLINE`` and
    ``HF_TOKEN`` read here, once; pass ``reach`` to share what was learnt with later calls)."""
    from kubefoundry.catalog import hub, models

    return hub.resolve_model(
        request.model,
        catalog=models.ModelCatalog.load(),
        token=os.environ.get("HF_TOKEN"),
        config_file=config,
        reach=reach or hub.Reach.from_env(),
    )


def facts(path: Path | None) -> ClusterFacts | None:
    from kubefoundry.core.facts import load_facts

    return load_facts(path) if path else None
