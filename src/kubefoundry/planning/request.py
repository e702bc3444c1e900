"""The deployment request: about ten decisions, the same schema in the CLI, a file and the API.

Written so it can become the spec of a ``ModelDeployment`` custom resource later.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kubefoundry.core import choices, files


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


class DeploymentRequest(BaseModel):
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


def load_request(path: Path) -> DeploymentRequest:
    return files.load_yaml_model(
        path,
        DeploymentRequest,
        what="deployment request",
        hint="See docs/planning.md for the request fields (model, tier, gpu, ...).",
    )
