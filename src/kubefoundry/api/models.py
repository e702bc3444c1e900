"""The REST API's response bodies (the request body is ``core/spec.DeploymentSpec``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from kubefoundry.checks.findings import Finding
    from kubefoundry.planning.tiers import Tier
    from kubefoundry.planning.workloads import Profile


class FitRow(BaseModel):
    """One GPU type a model fits on and how many GPUs of it one replica needs."""

    gpu: str = Field(description="GPU catalog id (GET /api/v1/gpus).")
    count: int = Field(description="GPUs per replica, on one node.")


class ModelRow(BaseModel):
    """A model, curated or read from the Hub: what it is and what serving it involves (what
    the Hub's config.json does not say, e.g. the licence, is null)."""

    id: str = Field(description="Hugging Face id.")
    name: str
    family: str
    params_b: float = Field(description="Parameters, billions.")
    attention: str
    native_dtype: str
    quantization: str | None
    context_length: int
    gated: bool | None = Field(
        description="Whether Hugging Face serves it only to accounts "
        "that accepted its terms; null when not known."
    )
    license: str | None
    task: str
    engines: list[str]
    aliases: list[str] = Field(description="Short names the planner takes (the first is ours).")
    fits_on: list[FitRow] = Field(
        description="GPU types one replica fits on, each with the fewest GPUs on one node "
        "(tier good, the model's own precision, an 8,192-token context; the planner's sizing)."
    )


class GpuRow(BaseModel):
    """A GPU the planner knows (every catalog field; the main ones typed)."""

    model_config = ConfigDict(extra="allow")

    id: str
    vendor: str
    memory_gb: float
    cuda_total_gib: float = Field(description="Memory as CUDA reports it, GiB.")
    memory_bandwidth_gbps: float
    resource_name: str


class TierRow(BaseModel):
    name: str
    summary: str
    objective: str = Field(description="The intent: cost, balanced or latency.")
    performance_mode: str
    context_target: int | None = Field(description="None: the model's native context.")
    context_floor: int
    target_factor: float
    default_concurrency: int
    load_share: float
    replicas: int
    spare_replicas: int
    max_replicas: int
    scale_to_zero: bool

    @classmethod
    def of(cls, t: Tier) -> TierRow:
        return cls(**{name: getattr(t, name) for name in cls.model_fields})


class WorkloadRow(BaseModel):
    name: str
    summary: str
    input_tokens: int
    input_tokens_p90: int
    output_tokens: int
    output_tokens_p90: int
    ttft_ms: float | None
    tpot_ms: float | None

    @classmethod
    def of(cls, p: Profile) -> WorkloadRow:
        return cls(**{name: getattr(p, name) for name in cls.model_fields})


class PlanResponse(BaseModel):
    plan: dict[str, Any] = Field(description="The plan, as `kubefoundry plan -o json` prints it.")


class CheckFinding(BaseModel):
    rule: str
    severity: str
    object: str
    path: str
    message: str
    fix: str

    @classmethod
    def of(cls, f: Finding) -> CheckFinding:
        data = f.to_dict()
        return cls(**{name: str(data.get(name, "")) for name in cls.model_fields})


class Decision(BaseModel):
    topic: str
    choice: str
    reason: str


class RenderResponse(BaseModel):
    runtime: str
    plan: dict[str, Any]
    manifests: list[dict[str, Any]] = Field(description="The objects, as they would be applied.")
    decisions: list[Decision]
    warnings: list[str]
    findings: list[CheckFinding]


class FieldProblem(BaseModel):
    field: str = Field(description="Dotted path in the spec, e.g. workload.input_tokens.")
    value: Any = Field(None, description="What was given.")
    message: str


class RemedyBody(BaseModel):
    code: str = Field(description="Stable code of the fix: model_config, hf_token_secret, …")
    fix: str = Field(description="What to do, through this API.")


class ErrorBody(BaseModel):
    """Every 4xx: what was wrong and how to fix it, in the spec's field names."""

    error: str = Field(description="invalid, not_found, does_not_fit, unauthorized, …")
    message: str
    hint: str | None = None
    fields: list[FieldProblem] = Field(default_factory=list)
    suggestions: list[str] = Field(default_factory=list, description="Close names (not_found).")
    fixes: list[dict[str, Any]] = Field(
        default_factory=list, description="Spec changes that plan (does_not_fit)."
    )
    remedies: list[RemedyBody] = Field(
        default_factory=list, description="Fixes by code, for clients that act on them."
    )


class DeploymentRow(BaseModel):
    namespace: str | None
    name: str
    runtime: str | None
    model: str | None
    kind: str
    gpu: str | None
    replicas: int | None
    usd_per_hour: float | None
    phase: str | None = Field(None, description="Where it is (a phase code), from the watch cache.")
    ready: int | None = Field(None, description="Replicas ready.")
    wanted: int | None = Field(None, description="Replicas the plan asks for.")


class DeploymentList(BaseModel):
    deployments: list[DeploymentRow]
    hidden: list[str] = Field(description="Root kinds RBAC does not let this user list.")


class DeployedBody(BaseModel):
    name: str
    namespace: str
    runtime: str
    plan: dict[str, Any]
    applied: list[str] = Field(description="kind/name of every object applied.")
    token_secret: str | None = Field(
        description="What happened to the token Secret (never its value)."
    )
    warnings: list[str]


class StatusBody(BaseModel):
    phase: str = Field(description="A stable code: pending, pulling, loading, ready, failed, …")
    message: str
    ready: int
    wanted: int


class DeletedBody(BaseModel):
    deleted: list[str]
    kept: str
