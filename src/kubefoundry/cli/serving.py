"""How to serve, beyond the plan: the flags ``render`` and ``deploy`` share.

Each flag sets one field of the spec's ``serving`` section (``core/spec.ServingSpec``, where
every default is declared; ``requesting.NESTED_FLAGS`` maps flag to field). Flags default to
"not given", so a spec file's value stands unless the flag overrides it. ``--help`` shows the
spec's default as text (importing pydantic would slow ``--help``); a test keeps the two equal.
"""

from __future__ import annotations

from typing import Annotated

import typer

from kubefoundry.core import choices

Expose = Annotated[
    choices.Exposure | None,
    typer.Option("--expose", help="How clients reach the model.", show_default="none"),
]
Host = Annotated[str | None, typer.Option("--host", help="Hostname for the route.")]
Gateway = Annotated[
    str | None,
    typer.Option(
        "--gateway",
        help="Gateway the HTTPRoute attaches to: NAME or NAMESPACE/NAME.",
        show_default="inference-gateway",
    ),
]
Monitoring = Annotated[
    choices.Monitoring | None,
    typer.Option(
        "--monitoring",
        help="Prometheus Operator object that scrapes the pods.",
        show_default="servicemonitor",
    ),
]
Prometheus = Annotated[
    str | None,
    typer.Option(
        "--prometheus",
        help="URL of the Prometheus KEDA's scaler queries.",
        show_default="http://prometheus-operated.monitoring.svc:9090",
    ),
]
TokenSource = Annotated[
    choices.TokenSource | None,
    typer.Option(
        "--token-source",
        help="Where the Hugging Face token Secret comes from.",
        show_default="secret",
    ),
]
SecretStore = Annotated[
    str | None,
    typer.Option(
        "--secret-store",
        help="ClusterSecretStore for --token-source.",
        show_default="vault-backend",
    ),
]
TokenPath = Annotated[
    str | None,
    typer.Option(
        "--token-path",
        help="Remote key of the token in the secret store.",
        show_default="secret/shared/huggingface/token",
    ),
]
ModelCache = Annotated[
    bool | None,
    typer.Option("--model-cache/--no-model-cache", help="Cache weights on a PVC (default: on)."),
]
CacheSize = Annotated[int | None, typer.Option("--cache-size", min=1, help="PVC size in GiB.")]
StorageClass = Annotated[
    str | None, typer.Option("--storage-class", help="StorageClass of the cache PVC.")
]
Disaggregated = Annotated[
    bool | None,
    typer.Option(
        "--disaggregated/--aggregated",
        help="Split prefill and decode (dynamo, llmd, kserve; default: aggregated).",
    ),
]
Platform = Annotated[
    choices.Platform | None,
    typer.Option("--platform", help="kserve: the accelerator platform profile."),
]
LlmInferenceService = Annotated[
    bool | None,
    typer.Option(
        "--llm-inference-service/--inference-service",
        help="kserve: LLMInferenceService (llm-d) or InferenceService (default).",
    ),
]
MultiNode = Annotated[
    choices.MultiNode | None,
    typer.Option("--multi-node", help="lws: how nodes join a replica.", show_default="ray"),
]
