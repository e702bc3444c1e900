"""The deployment spec: one pydantic model for every surface that asks for a deployment.

``DeploymentSpec`` is the request of the CLI's ``-f`` file and flags, the REST API's body and
the future ``ModelDeployment`` custom resource. Every default is declared here once; the
runtimes' ``Options`` and the CLI's flags take theirs from these fields. Its JSON Schema is
published in ``docs/deployment-spec.schema.json`` (``scripts/spec_schema.py``).

Validation problems come back as ``SpecError``: each names the field (its dotted path), the
value given and what is wrong, so each surface can word the fix its own way (a flag, a form
field, a JSON path).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from kubefoundry.core import choices, files
from kubefoundry.core.errors import InvalidInputError

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# Where the Prometheus Operator's own examples (and kube-prometheus) serve Prometheus.
PROMETHEUS = "http://prometheus-operated.monitoring.svc:9090"


class WorkloadSpec(BaseModel):
    """The traffic to plan for: a named profile, with any of its figures replaced.

    Lengths are tokens per request (mean, and the 90th percentile the context must accept);
    the peak load is a request rate or a number of users each with one request in flight;
    targets are mean time to first token and mean time per output token after the first.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: choices.Workload = Field(
        "chat", description="Named traffic shape (its numbers in data)."
    )
    input_tokens: int | None = Field(None, ge=1, le=1_048_576, description="Mean prompt tokens.")
    output_tokens: int | None = Field(None, ge=1, le=262_144, description="Mean output tokens.")
    input_tokens_p90: int | None = Field(None, ge=1, le=1_048_576)
    output_tokens_p90: int | None = Field(None, ge=1, le=262_144)
    requests_per_s: float | None = Field(None, gt=0, le=100_000, description="Peak request rate.")
    concurrent_users: int | None = Field(
        None, ge=1, le=1_000_000, description="Peak users, each with one request in flight."
    )
    ttft_ms: float | None = Field(None, gt=0, description="Mean time to first token target.")
    tpot_ms: float | None = Field(None, gt=0, description="Mean time per output token target.")
    ttft_p95_ms: float | None = Field(None, gt=0, description="95th-percentile TTFT target.")
    tpot_p95_ms: float | None = Field(None, gt=0, description="95th-percentile TPOT target.")

    @model_validator(mode="after")
    def _one_peak(self) -> WorkloadSpec:
        if self.requests_per_s is not None and self.concurrent_users is not None:
            raise ValueError(
                "give the peak load one way: requests_per_s or concurrent_users, not both"
            )
        return self


class TokenSpec(BaseModel):
    """Where the pods get the Hugging Face token: a Secret, or an ExternalSecret's store."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: choices.TokenSource = Field("secret", description="secret or external-secret.")
    secret_store: str = Field(
        "vault-backend", description="ClusterSecretStore an ExternalSecret reads from."
    )
    remote_key: str = Field(
        "secret/shared/huggingface/token", description="Key of the token in the store."
    )


class CacheSpec(BaseModel):
    """The model-weight cache: a PVC the pods download into once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Cache weights on a PVC.")
    size_gib: int | None = Field(
        None, ge=1, description="PVC size; default: weights on disk × 1.3, rounded up."
    )
    storage_class: str | None = Field(None, description="StorageClass of the PVC.")


class ServingSpec(BaseModel):
    """How the model is served and reached, beyond what the plan decides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    exposure: choices.Exposure = Field("none", description="How clients reach the model.")
    host: str | None = Field(None, description="Hostname for the route.")
    gateway: str = Field(
        "inference-gateway",
        description="Gateway an HTTPRoute attaches to: NAME (in the deployment's namespace) "
        "or NAMESPACE/NAME.",
    )
    monitoring: choices.Monitoring = Field(
        "servicemonitor", description="Prometheus Operator object that scrapes the pods."
    )
    prometheus: str = Field(
        PROMETHEUS,
        description="The Prometheus that KEDA's scaler queries, as the KEDA operator reaches it "
        "(http:// or https:// URL).",
    )
    token: TokenSpec = Field(default_factory=lambda: TokenSpec())

    @field_validator("prometheus")
    @classmethod
    def _prometheus_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError(
                "the URL of a Prometheus server, like http://prometheus-operated.monitoring"
                ".svc:9090 (http:// or https://, a host, an optional port and path)"
            )
        return value.rstrip("/")

    @field_validator("gateway")
    @classmethod
    def _gateway_ref(cls, value: str) -> str:
        parts = value.split("/")
        if len(parts) > 2 or not all(_DNS_LABEL.fullmatch(part) for part in parts):
            raise ValueError(
                "a Gateway's name (lowercase letters, digits and '-'), or NAMESPACE/NAME for "
                "one in another namespace"
            )
        return value

    cache: CacheSpec = Field(default_factory=lambda: CacheSpec())
    disaggregated: bool = Field(
        False, description="Split prefill and decode (dynamo, llmd, kserve)."
    )
    platform: choices.Platform | None = Field(
        None, description="kserve: the accelerator platform profile (default: from the GPU)."
    )
    llm_inference_service: bool = Field(
        False, description="kserve: an LLMInferenceService (llm-d) instead of an InferenceService."
    )
    multi_node: choices.MultiNode = Field(
        "ray", description="lws: how the nodes of a replica join (ray or vLLM's native)."
    )


class DeploymentSpec(BaseModel):
    """Everything one deployment is: the model, the tier, every pin, the workload and how it is
    served. The CLI's ``-f`` file, the API's body and (later) a ``ModelDeployment`` resource's
    spec; defaults live here and nowhere else."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="Catalog name, alias or any Hugging Face model id.")
    name: str | None = Field(None, description="Deployment name; defaults to the model's.")
    namespace: str | None = None
    tier: choices.Tier = "better"
    runtime: str | None = Field(None, description="Pin a runtime (vllm, kserve, kuberay, …).")
    gpu: str | None = Field(None, description="Pin a GPU type, e.g. H100, L4.")
    gpu_count: int | None = Field(None, ge=1, le=64, description="GPUs per replica.")
    cloud: choices.Cloud | None = None
    context_length: int | None = Field(None, ge=256, description="max_model_len per request.")
    quantization: choices.QuantFlag | None = None
    kv_cache_dtype: choices.KvCacheDtype | None = None
    replicas: int | None = Field(None, ge=1, le=100, description="Replicas to start with.")
    usd_per_gpu_hour: float | None = Field(None, gt=0, description="Your own GPU price (on-prem).")
    vllm_version: str | None = None
    workload: WorkloadSpec = Field(
        default_factory=WorkloadSpec, description="Traffic to size and price the plan for."
    )
    hf_token_secret: str | None = Field(
        None, description="Name of the Secret holding the Hugging Face token (never the token)."
    )
    serving: ServingSpec = Field(
        default_factory=lambda: ServingSpec(), description="How the model is served and reached."
    )


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec: where, what was given, what is wrong."""

    field: str  # dotted path, e.g. "workload.input_tokens"
    value: Any  # what was given (absent: None)
    message: str


class SpecError(InvalidInputError):
    """A spec that does not validate; ``problems`` lists every field at fault."""

    def __init__(self, problems: list[Problem], *, where: str = "deployment spec") -> None:
        self.problems = tuple(problems)
        text = "; ".join(f"{p.field or '(root)'}: {p.message} (got {p.value!r})" for p in problems)
        super().__init__(
            f"Invalid {where}: {text}.",
            hint="The fields are described in docs/deployment-spec.schema.json.",
        )


def parse(data: dict[str, Any], *, where: str = "deployment spec") -> DeploymentSpec:
    """A ``DeploymentSpec`` from plain data, or ``SpecError`` naming every field at fault."""
    try:
        return DeploymentSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(problems(exc), where=where) from None


def problems(exc: ValidationError) -> list[Problem]:
    out = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        # A validator's own sentence, without pydantic's "Value error, " before it.
        message = str(err["msg"]).removeprefix("Value error, ")
        out.append(Problem(field=field, value=err.get("input"), message=message))
    return out


def load(path: Path) -> DeploymentSpec:
    """The spec in a YAML or JSON file."""
    try:
        raw = files.parse_yaml(path.read_text())
    except FileNotFoundError:
        raise InvalidInputError(
            f"No such file: {path}.", hint="Give the path of a deployment spec (YAML or JSON)."
        ) from None
    except yaml.YAMLError as exc:
        raise InvalidInputError(
            f"{path} is not valid YAML/JSON: {exc}", hint="Fix the syntax and try again."
        ) from None
    if raw is not None and not isinstance(raw, dict):
        raise InvalidInputError(
            f"{path} is not a deployment spec: it holds a {type(raw).__name__}, not a mapping.",
            hint="A spec is a mapping: model: llama-3.1-8b, tier: better, ...",
        )
    return parse(raw or {}, where=f"deployment spec in {path}")


def schema() -> dict[str, Any]:
    """The JSON Schema of ``DeploymentSpec`` (what docs and /openapi.json publish)."""
    return DeploymentSpec.model_json_schema()
