"""What every runtime is: a name, the features it cannot serve (with a reason), its side of
the cluster (``cluster_side``: root kinds, rendered kinds, operators) and a pure
``render(plan, options) -> Rendered``.

A runtime never imports another runtime; shared building blocks live in ``common/``.
``Options`` holds the choices that are about *how* to serve rather than *what* (how traffic
gets in, where the token comes from, monitoring, the model cache); the plan holds the rest.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol

from kubefoundry.core import choices
from kubefoundry.core.spec import DeploymentSpec, ServingSpec, WorkloadSpec
from kubefoundry.planning.plans import Decision, Plan
from kubefoundry.runtimes.cluster_side import ClusterSide
from kubefoundry.runtimes.common.claims import Said

Manifest = dict[str, Any]

# The spec's defaults: the runtimes' Options take theirs from here, declared once in core/spec.
_SPEC = ServingSpec()
_WORKLOAD = WorkloadSpec()

Exposure = choices.Exposure
Monitoring = choices.Monitoring
TokenSource = choices.TokenSource
Workload = choices.Workload
Platform = choices.Platform


class Feature(enum.StrEnum):
    """Things a plan or the user's options can need from a runtime."""

    MULTI_NODE = "multi-node replicas"
    DISAGGREGATED = "prefill/decode disaggregation"
    SCALE_TO_ZERO = "scale to zero"
    KV_ROUTING = "KV-cache-aware routing"
    PIPELINE_PARALLEL = "pipeline parallelism"
    NON_NVIDIA = "non-NVIDIA accelerators"


@dataclasses.dataclass(frozen=True)
class TokenOptions:
    source: TokenSource = _SPEC.token.source
    secret_name: str | None = None  # default: "<name>-hf-token"
    secret_key: str = "token"
    store: str = _SPEC.token.secret_store  # ExternalSecret: the (Cluster)SecretStore to read
    store_kind: Literal["SecretStore", "ClusterSecretStore"] = "ClusterSecretStore"
    remote_key: str = _SPEC.token.remote_key
    remote_property: str | None = "value"


@dataclasses.dataclass(frozen=True)
class Token:
    """How the pods get the Hugging Face token, decided once per render: the objects reference
    it and the explanation names it from this one value (``common/tokens``)."""

    secret: str  # the Secret's name
    key: str  # the key in that Secret the pods (or the operator) read
    optional: bool  # the pods start without the Secret (gating not known)
    given: bool  # the user named the Secret (it is theirs, not ours to create)
    options: TokenOptions  # where it comes from: a plain Secret or an ExternalSecret's store

    @property
    def source(self) -> TokenSource:
        return self.options.source


@dataclasses.dataclass(frozen=True)
class CacheOptions:
    enabled: bool = _SPEC.cache.enabled
    size_gib: int | None = _SPEC.cache.size_gib  # None: weights on disk × 1.3, rounded up
    storage_class: str | None = _SPEC.cache.storage_class
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany"] = "ReadWriteMany"


@dataclasses.dataclass(frozen=True)
class Options:
    """How to serve; defaults are the spec's (``Options.from_spec`` builds it from a spec)."""

    exposure: Exposure = _SPEC.exposure
    host: str | None = _SPEC.host
    gateway: str = _SPEC.gateway
    gateway_namespace: str | None = None
    ingress_class: str | None = None
    monitoring: Monitoring = _SPEC.monitoring
    prometheus: str = _SPEC.prometheus  # the URL KEDA's prometheus scaler queries
    token: TokenOptions = TokenOptions()
    cache: CacheOptions = CacheOptions()
    disaggregated: bool = _SPEC.disaggregated
    workload: Workload = _WORKLOAD.profile  # the spec's workload.profile
    platform: Platform | None = _SPEC.platform  # accelerator profile; None: from the GPU
    llm_inference_service: bool = _SPEC.llm_inference_service  # kserve: LLMInferenceService
    multi_node: choices.MultiNode = _SPEC.multi_node  # lws: Ray cluster or vLLM's own
    image: str | None = None  # override the engine image
    pdb: bool = True

    @classmethod
    def from_spec(cls, spec: DeploymentSpec) -> Options:
        """The runtimes' view of a spec's serving section (and its workload's profile)."""
        serving = spec.serving
        return cls(
            exposure=serving.exposure,
            host=serving.host,
            gateway=serving.gateway.rpartition("/")[2],
            gateway_namespace=serving.gateway.rpartition("/")[0] or None,
            monitoring=serving.monitoring,
            prometheus=serving.prometheus,
            token=TokenOptions(
                source=serving.token.source,
                secret_name=spec.hf_token_secret,
                store=serving.token.secret_store,
                remote_key=serving.token.remote_key,
            ),
            cache=CacheOptions(
                enabled=serving.cache.enabled,
                size_gib=serving.cache.size_gib,
                storage_class=serving.cache.storage_class,
            ),
            disaggregated=serving.disaggregated,
            workload=spec.workload.profile,
            platform=serving.platform,
            llm_inference_service=serving.llm_inference_service,
            multi_node=serving.multi_node,
        )


@dataclasses.dataclass(frozen=True)
class Rendered:
    """The objects and their explanation. ``said`` holds each decision and warning with the
    values its text states and where the objects hold them; ``token`` is the token the
    objects use."""

    runtime: str
    manifests: tuple[Manifest, ...]
    decisions: tuple[Decision, ...] = ()
    warnings: tuple[str, ...] = ()
    said: tuple[Said, ...] = ()
    token: Token | None = None

    @classmethod
    def of(
        cls,
        runtime: str,
        manifests: Sequence[Manifest],
        said: Sequence[Said | Decision | str],
        *,
        token: Token | None = None,
    ) -> Rendered:
        """Decisions and warnings in the order said, each kept with its claims."""
        lines = tuple(s if isinstance(s, Said) else Said(s) for s in said)
        return cls(
            runtime=runtime,
            manifests=tuple(manifests),
            decisions=tuple(s.what for s in lines if isinstance(s.what, Decision)),
            warnings=tuple(s.what for s in lines if isinstance(s.what, str)),
            said=lines,
            token=token,
        )


class Runtime(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def summary(self) -> str: ...

    @property
    def limits(self) -> Mapping[Feature, str]:
        """Features this runtime cannot serve, each with the reason a person reads."""
        ...

    @property
    def requires(self) -> tuple[str, ...]:
        """Operators/CRDs the cluster needs (keys of ClusterFacts.installed_runtimes):
        ``cluster_side.requires``."""
        ...

    @property
    def cluster_side(self) -> ClusterSide:
        """Its root kinds and their readiness, every kind it renders, the operators it needs."""
        ...

    def render(self, plan: Plan, options: Options) -> Rendered: ...


SOFT_FEATURES = (Feature.SCALE_TO_ZERO,)  # wanted by a tier, given up with a reason if absent


def needs(plan: Plan, options: Options) -> set[Feature]:
    """The features serving ``plan`` with ``options`` must have from a runtime.

    Scale to zero is not among them: a runtime without it keeps one replica warm instead,
    and says so (``choosing.choose``).
    """
    out = set()
    if plan.nodes_per_replica > 1:
        out.add(Feature.MULTI_NODE)
    if plan.pipeline_parallel > 1:
        out.add(Feature.PIPELINE_PARALLEL)
    if options.disaggregated:
        out.add(Feature.DISAGGREGATED)
    if options.platform not in (None, "nvidia") or plan.gpu_resource != "nvidia.com/gpu":
        out.add(Feature.NON_NVIDIA)
    return out


def required(runtime: Runtime, options: Options) -> tuple[str, ...]:
    """The operators a render with ``options`` needs running: the runtime's own answer where
    its modes need different controllers (``requires_for``), else all it ``requires``."""
    chooser = getattr(runtime, "requires_for", None)
    return tuple(chooser(options)) if chooser is not None else runtime.requires


def requirement_text(runtime: Runtime) -> str:
    """What the runtime needs running, for a table: its own words where modes differ."""
    said = getattr(runtime, "requires_text", None)
    return str(said) if said else ", ".join(runtime.requires) or "-"


def refusal(runtime: Runtime, plan: Plan, options: Options) -> str | None:
    """Why ``runtime`` cannot serve this plan, or None when it can.

    First the features it declares it lacks; then, when the runtime has one, its own
    ``refuse(plan, options)`` hook for limits that depend on the plan's details (KAITO: no
    Azure SKU with this GPU), so they too are known when the runtime is chosen.
    """
    for feature in sorted(needs(plan, options)):
        if feature in runtime.limits:
            return f"{runtime.name}: no {feature.value} ({runtime.limits[feature]})"
    hook: Callable[[Plan, Options], str | None] | None = getattr(runtime, "refuse", None)
    if hook is not None:
        reason = hook(plan, options)
        if reason:
            return f"{runtime.name}: {reason}"
    return None


def resized(runtime: Runtime, plan: Plan) -> Plan:
    """The plan with the sizes ``runtime`` decides itself, through its optional
    ``resize(plan)`` hook (KAITO: its node estimator picks the nodes of each replica,
    whatever the plan asked for), so the plan and its price say what will be rented."""
    hook: Callable[[Plan], Plan] | None = getattr(runtime, "resize", None)
    return hook(plan) if hook is not None else plan


def bundled_vllm(runtime: Runtime, options: Options) -> str | None:
    """The vLLM release ``runtime`` runs whatever the plan says, through its optional
    ``bundled_vllm(options)`` hook (the ray-llm and Dynamo images each pin one); None where
    it runs the plan's release or an image of the user's whose vLLM is not known."""
    hook: Callable[[Options], str | None] | None = getattr(runtime, "bundled_vllm", None)
    return hook(options) if hook is not None else None
