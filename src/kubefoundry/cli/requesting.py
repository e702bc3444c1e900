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


def build(file: Path | None, **flags: Any) -> DeploymentRequest:
    """The request from ``file`` (if any) with every flag that was given laid over it."""
    from pydantic import ValidationError

    from kubefoundry.core import files
    from kubefoundry.planning.request import DeploymentRequest, load_request

    base = load_request(file).model_dump(exclude_none=True) if file else {}
    given = {k: v for k, v in flags.items() if v is not None}
    if "model" not in given and "model" not in base:
        raise InvalidInputError(
            "No model given.", hint="Pass MODEL (e.g. llama-3.1-8b) or -f request.yaml."
        )
    try:
        return DeploymentRequest.model_validate({**base, **given})
    except ValidationError as exc:
        problems = "; ".join(
            f"--{loc.replace('_', '-')}: {msg}" for loc, msg in files.field_errors(exc)
        )
        raise InvalidInputError(
            f"Invalid options: {problems}.", hint="See `kubefoundry plan --help`."
        ) from None


def from_flags(file: Path | None, flags: dict[str, Any]) -> DeploymentRequest:
    """The request from a command's flags (its ``locals()``): only request fields are taken."""
    from kubefoundry.planning.request import DeploymentRequest

    fields = DeploymentRequest.model_fields
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
