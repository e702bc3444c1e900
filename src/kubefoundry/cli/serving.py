"""How to serve, beyond the plan: the options ``render`` and ``deploy`` share.

Each flag maps to one field of ``runtimes.base.Options``; ``options(...)`` checks the values
and builds it, so a typo is a clear error naming the flag and its valid values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, get_args

import typer

from kubefoundry.core import choices
from kubefoundry.core.errors import InvalidInputError

if TYPE_CHECKING:
    from kubefoundry.runtimes import base

Expose = Annotated[
    choices.Exposure,
    typer.Option("--expose", help="How clients reach the model."),
]
Host = Annotated[str | None, typer.Option("--host", help="Hostname for the route.")]
Gateway = Annotated[str, typer.Option("--gateway", help="Gateway the HTTPRoute attaches to.")]
Monitoring = Annotated[
    choices.Monitoring,
    typer.Option("--monitoring", help="Prometheus Operator object that scrapes the pods."),
]
TokenSource = Annotated[
    choices.TokenSource,
    typer.Option("--token-source", help="Where the Hugging Face token Secret comes from."),
]
SecretStore = Annotated[
    str, typer.Option("--secret-store", help="ClusterSecretStore for --token-source.")
]
TokenPath = Annotated[
    str, typer.Option("--token-path", help="Remote key of the token in the secret store.")
]
ModelCache = Annotated[
    bool,
    typer.Option("--model-cache/--no-model-cache", help="Cache weights on a PVC."),
]
CacheSize = Annotated[int | None, typer.Option("--cache-size", min=1, help="PVC size in GiB.")]
StorageClass = Annotated[
    str | None, typer.Option("--storage-class", help="StorageClass of the cache PVC.")
]
Disaggregated = Annotated[
    bool,
    typer.Option("--disaggregated", help="Split prefill and decode (dynamo, llmd, kserve)."),
]
Platform = Annotated[
    choices.Platform | None,
    typer.Option("--platform", help="kserve: the accelerator platform profile."),
]
LlmInferenceService = Annotated[
    bool,
    typer.Option("--llm-inference-service", help="kserve: LLMInferenceService (llm-d)."),
]
MultiNode = Annotated[
    choices.MultiNode, typer.Option("--multi-node", help="lws: how nodes join a replica.")
]

DEFAULTS: dict[str, Any] = {
    "expose": "none",
    "host": None,
    "gateway": "inference-gateway",
    "monitoring": "servicemonitor",
    "token_source": "secret",
    "secret_store": "vault-backend",
    "token_path": "secret/shared/huggingface/token",
    "model_cache": True,
    "cache_size": None,
    "storage_class": None,
    "disaggregated": False,
    "platform": None,
    "llm_inference_service": False,
    "multi_node": "ray",
}


def one_of(flag: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidInputError(
            f"{flag} {value!r} is not one of: {', '.join(allowed)}.",
            hint=f"Use {flag} " + " | ".join(allowed) + ".",
        )
    return value


def options(
    flags: dict[str, Any], *, hf_token_secret: str | None, workload: choices.Workload = "chat"
) -> base.Options:
    """``base.Options`` from a command's flags (its ``locals()``), checked; ``workload`` is the
    request's profile (``--workload``), which routing and prefill/decode choices follow."""
    from kubefoundry.runtimes import base

    f = {k: flags.get(k, v) for k, v in DEFAULTS.items()}
    for flag, key, vocabulary in (
        ("--expose", "expose", choices.Exposure),
        ("--monitoring", "monitoring", choices.Monitoring),
        ("--multi-node", "multi_node", choices.MultiNode),
        ("--token-source", "token_source", choices.TokenSource),
    ):
        one_of(flag, f[key], get_args(vocabulary))
    if f["platform"] is not None:
        one_of("--platform", f["platform"], get_args(choices.Platform))
    token = base.TokenOptions(
        source="external-secret" if f["token_source"] == "external-secret" else "secret",
        store=f["secret_store"],
        remote_key=f["token_path"],
        secret_name=hf_token_secret,
    )
    cache = base.CacheOptions(
        enabled=f["model_cache"], size_gib=f["cache_size"], storage_class=f["storage_class"]
    )
    return base.Options(
        exposure=f["expose"],
        host=f["host"],
        gateway=f["gateway"],
        monitoring=f["monitoring"],
        token=token,
        cache=cache,
        disaggregated=f["disaggregated"],
        workload=workload,
        platform=f["platform"],
        llm_inference_service=f["llm_inference_service"],
        multi_node=f["multi_node"],
    )
