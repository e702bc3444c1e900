"""The values of the seed's ``ML_INFERENCE_LOAD`` chart, as one pydantic model.

The model is the single statement of the values: ``values.schema.json`` (JSON Schema draft-07,
which Helm checks on every ``helm install``/``template``/``lint``) is generated from it, and
``values.yaml`` is an instance of it. Field names are the seed's (camelCase in the files).

The seed names two values ``environment``: the stage (``'prod'``) and a list of extra
environment variables (``[]``). One key cannot hold both; ``environment`` stays the stage,
as in the seed's identity block, and the list is ``extraEnv``.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"  # both become labels
# TGI's --quantize choices (launcher 3.3); "" lets TGI read a quantized checkpoint's own.
Quantize = Literal[
    "",
    "awq",
    "compressed-tensors",
    "eetq",
    "exl2",
    "gptq",
    "marlin",
    "bitsandbytes",
    "bitsandbytes-nf4",
    "bitsandbytes-fp4",
    "fp8",
]


class _Values(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class Gateway(_Values):
    name: str = Field(min_length=1, description="Gateway the HTTPRoute attaches to.")
    namespace: str = Field("", description="The Gateway's namespace; empty: the route's own.")


class Ingress(_Values):
    enabled: bool = Field(description="Render the Gateway API HTTPRoute.")
    host: str = Field("", description="Hostname the route answers; empty: every hostname.")
    gateway: Gateway
    request_timeout: str = Field(description="Longest request (a streamed answer) in flight.")


class Model(_Values):
    id: str = Field(min_length=1, description="Hugging Face model id (MODEL_ID).")
    revision: str = Field(
        "", description="Branch, tag or commit (REVISION); empty: the default branch."
    )
    name: str = Field(min_length=1, description="Display name; the model label is made of it.")


class Image(_Values):
    repository: str = Field(min_length=1)
    tag: str = Field(min_length=1)


class Inference(_Values):
    image: Image
    max_input_length: int = Field(ge=1, description="Longest prompt (MAX_INPUT_TOKENS).")
    max_total_tokens: int = Field(ge=2, description="Prompt + answer (MAX_TOTAL_TOKENS).")
    port: int = Field(ge=1, le=65535, description="Port TGI listens on (PORT).")
    num_shard: int = Field(ge=1, description="Tensor-parallel shards, one per GPU (NUM_SHARD).")
    dtype: Literal["", "bfloat16", "float16"] = Field(description="DTYPE; empty: the model's.")
    quantize: Quantize = Field(description="QUANTIZE on load; empty: none or the checkpoint's.")
    kv_cache_dtype: Literal["", "fp8_e4m3fn", "fp8_e5m2"] = Field(description="KV_CACHE_DTYPE")
    cuda_memory_fraction: float = Field(gt=0, le=1, description="CUDA_MEMORY_FRACTION")
    prefix_caching: bool = Field(description="false sets PREFIX_CACHING=0.")


class Gpu(_Values):
    count: int = Field(ge=1, description="GPUs per pod, the resource limit.")
    resource_name: str = Field(min_length=1, description="Extended resource of the GPUs.")
    runtime_class_name: str = Field(min_length=1, description="The GPU container runtime.")
    node_selector: dict[str, str]
    tolerations: list[dict[str, str]] = Field(default_factory=list)


class Vault(_Values):
    enabled: bool = Field(description="Render the ExternalSecret that copies the token in.")
    hf_token_path: str = Field(min_length=1, description="Where the store keeps the token.")
    property: str = Field("", description="Property of that entry holding the token.")
    refresh_interval: str = Field(description="How often the Secret is refreshed.")


class SecretStore(_Values):
    name: str = Field(min_length=1)
    kind: Literal["SecretStore", "ClusterSecretStore"]


class HfToken(_Values):
    enabled: bool = Field(description="Give TGI the token as HF_TOKEN (a secretKeyRef).")
    secret_name: str = Field(pattern=DNS_LABEL, description="Secret holding the token.")
    secret_key: str = Field(min_length=1)
    optional: bool = Field(description="Start even when the Secret is missing.")


class Resources(_Values):
    requests: dict[str, str] = Field(min_length=1, description="Without the GPU (gpu.count).")
    limits: dict[str, str] = Field(min_length=1, description="Without the GPU (gpu.count).")


class Probe(_Values):
    period_seconds: int = Field(ge=1)
    timeout_seconds: int = Field(ge=1)
    failure_threshold: int = Field(ge=1)


class HealthCheck(_Values):
    path: str = Field(pattern=r"^/", description="TGI's health endpoint.")
    startup: Probe = Field(description="Budget for pulling, downloading and loading the model.")
    readiness: Probe
    liveness: Probe


class Monitoring(_Values):
    enabled: bool = Field(description="Render a ServiceMonitor for /metrics.")
    interval: str


class ModelCache(_Values):
    enabled: bool = Field(description="Mount a PVC as the Hugging Face hub cache.")
    create: bool = Field(description="Create the PVC; false when another release owns it.")
    claim_name: str = Field(pattern=DNS_LABEL)
    size: str = Field(pattern=r"^[0-9]+(Mi|Gi|Ti)$")
    storage_class: str = Field("", description="Empty: the cluster's default class.")
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany"]
    mount_path: str = Field(pattern=r"^/")


class Storage(_Values):
    model_cache: ModelCache


class Autoscaling(_Values):
    enabled: bool = Field(description="Render a KEDA ScaledObject on tgi_queue_size.")
    min_replicas: int = Field(ge=0)
    max_replicas: int = Field(ge=1)
    queue_size_target: float = Field(gt=0, description="Queued requests per replica.")
    cooldown_seconds: int = Field(ge=0)
    prometheus_address: str = Field(min_length=1)


class Toggle(_Values):
    enabled: bool


class EnvVar(_Values):
    name: str = Field(pattern=ENV_NAME)
    value: str


class ChartValues(_Values):
    """Values of the ML_INFERENCE_LOAD chart (the seed's schema, plus what a plan adds)."""

    workload_type: Literal["ML_INFERENCE_LOAD"] = "ML_INFERENCE_LOAD"
    service_name: str = Field(pattern=DNS_LABEL, max_length=63)
    service_catalog: str = Field(
        min_length=1, max_length=63, pattern=LABEL_VALUE, description="Owning team or catalog."
    )
    namespace: str = Field("", description="Empty: the release's namespace.")
    environment: str = Field(
        min_length=1, max_length=63, pattern=LABEL_VALUE, description="Stage: dev, prod, …"
    )
    service_account: str = ""
    replicas: int = Field(ge=0, description="Left to KEDA when autoscaling is enabled.")
    annotations: dict[str, str] = Field(description="On the Deployment: KubeFoundry's plan.")
    ingress: Ingress
    model: Model
    inference: Inference
    gpu: Gpu
    vault: Vault
    secret_store: SecretStore
    hf_token: HfToken
    resources: Resources
    health_check: HealthCheck
    termination_grace_period_seconds: int = Field(ge=1)
    basic_monitoring: Monitoring
    storage: Storage
    autoscaling: Autoscaling
    pod_disruption_budget: Toggle
    extra_env: list[EnvVar] = Field(default_factory=list, description="The seed's env list.")


def json_schema() -> dict[str, Any]:
    """``values.schema.json``: draft-07, references inlined, pydantic's titles dropped."""
    raw = ChartValues.model_json_schema(by_alias=True)
    definitions = raw.pop("$defs", {})
    schema = _inline(raw, definitions)
    return {"$schema": "http://json-schema.org/draft-07/schema#", **schema}


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(v, definitions) for v in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(definitions[node["$ref"].rsplit("/", 1)[-1]])
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return _inline({**target, **rest}, definitions)
    out = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _inline(v, definitions) for name, v in value.items()}
        elif key != "title":
            out[key] = _inline(value, definitions)
    return out
