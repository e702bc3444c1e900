"""The pitfall rules, in one explicit list: each a stable id, a one-line summary and a
function ``(document, context) -> findings``. Add a rule here, in docs/checks.md and in
tests/fixtures/checks/<id>/ (a bad and a fixed example)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from kubefoundry.checks.context import Context
from kubefoundry.checks.documents import Document
from kubefoundry.checks.findings import Finding
from kubefoundry.checks.rules import (
    apis,
    kaito,
    placement,
    probes,
    ray,
    scaling,
    secrets,
    sizing,
)
from kubefoundry.core import naming
from kubefoundry.core.errors import NotFoundError

# Findings the checker itself raises, outside the pitfall rules.
SCHEMA = "schema"
NOT_VALIDATED = "not-validated"
NOT_A_MANIFEST = "not-a-manifest"
BUILT_IN = (SCHEMA, NOT_VALIDATED, NOT_A_MANIFEST)


@dataclasses.dataclass(frozen=True)
class Rule:
    id: str
    summary: str
    check: Callable[[Document, Context], Iterable[Finding]]


RULES: tuple[Rule, ...] = (
    Rule(
        ray.RAY_SERVE_CONFIG_INVALID,
        "serveConfigV2 is not a valid Ray Serve config",
        ray.serve_config_invalid,
    ),
    Rule(
        ray.RAY_GPU_MISMATCH, "GPUs Ray Serve asks for vs GPUs the Ray pods have", ray.gpu_mismatch
    ),
    Rule(
        ray.RAY_VERSION_MISMATCH,
        "rayVersion vs the Ray version of the images",
        ray.version_mismatch,
    ),
    Rule(
        ray.RAY_SECRET_IN_RUNTIME_ENV,
        "tokens or ${VAR} in Ray runtime_env",
        ray.secret_in_runtime_env,
    ),
    Rule(kaito.KAITO_CONFIG_KEY, "KAITO ConfigMap lacks inference_config.yaml", kaito.config_key),
    Rule(
        kaito.KAITO_COUNT_VS_REPLICAS,
        "KAITO resource.count used as replicas",
        kaito.count_vs_replicas,
    ),
    Rule(apis.UNSTABLE_API, "alpha, deprecated or unserved API versions", apis.unstable_api),
    Rule(
        sizing.MAX_MODEL_LEN_EXCEEDS_MEMORY,
        "--max-model-len larger than GPU memory allows",
        sizing.max_model_len,
    ),
    Rule(
        sizing.PARALLELISM_GPU_MISMATCH, "TP × PP × DP vs GPUs requested", sizing.parallelism_gpus
    ),
    Rule(
        probes.PROBE_SHORTER_THAN_LOAD,
        "probes that kill the server while it loads",
        probes.probe_shorter_than_load,
    ),
    Rule(
        placement.SELECTOR_MATCHES_NO_NODE,
        "node selectors no node pool satisfies",
        placement.selector_matches_no_node,
    ),
    Rule(
        scaling.SCALER_TARGET_NOT_CREATED,
        "a scaler targets a Dynamo scaling adapter the operator never creates",
        scaling.target_not_created,
    ),
    Rule(
        scaling.REPLICAS_OWNED_BY_SCALER,
        "replicas set on a workload a scaler owns",
        scaling.replicas_owned,
    ),
    Rule(secrets.SECRET_INLINED, "credentials written into manifests", secrets.secret_inlined),
    Rule(
        secrets.ENV_VAR_NOT_EXPANDED,
        "$VAR / ${VAR} env values Kubernetes does not expand",
        secrets.env_var_not_expanded,
    ),
)


def ids() -> tuple[str, ...]:
    return (*BUILT_IN, *(r.id for r in RULES))


def resolve(names: Iterable[str]) -> frozenset[str]:
    """Rule ids as given; NotFoundError with close matches for an unknown one."""
    known = ids()
    for name in names:
        if name not in known:
            raise NotFoundError(
                kind="rule",
                name=name,
                suggestions=naming.suggest(name, known),
                hint="Rules: " + ", ".join(known) + ".",
            )
    return frozenset(names)
