"""The deployment request: about ten decisions, the same schema in the CLI, a file and the API.

Written so it can become the spec of a ``ModelDeployment`` custom resource later.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from kubefoundry.core import choices, files


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
