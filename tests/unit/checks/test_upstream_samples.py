"""The real upstream examples: schema-valid against the real CRDs, and what the rules say.

Each sample's findings are pinned so a rule that starts crying wolf on real manifests, or
goes quiet on a real problem, fails here. Why each finding is right:

- kaito_workspace_custom_config: its ConfigMap sets tensor-parallel-size 2 on a one-GPU
  Standard_NC24ads_A100_v4; KAITO appends the file's flags after its own, so vLLM gets 2.
- vllm-gpu-lws: ``value: $HF_TOKEN`` reaches the container as that text.
- llm-d vllm-gpu-deployment: 10 minutes of startup probe for 66 GB of Qwen3-32B on a cold
  cache (its own comment warns about exactly this).
- the v1alpha1 Dynamo files use a deprecated version; KAITO InferenceSet and KServe
  LLMInferenceService v1alpha1 have a newer served version.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.checks.support import SAMPLES, run_file

from kubefoundry.checks import rules

FILES = sorted(SAMPLES.rglob("*.yaml"))
EXPECTED: dict[str, set[tuple[str, str]]] = {
    "kaito/kaito_workspace_custom_config.yaml": {("parallelism-gpu-mismatch", "error")},
    "lws/vllm-gpu-lws.yaml": {("env-var-not-expanded", "error")},
    "llm-d/vllm-gpu-deployment.yaml": {("probe-shorter-than-load", "warning")},
    "dynamo/vllm-agg.v1alpha1.yaml": {("unstable-api", "warning")},
    "dynamo/vllm-disagg.v1alpha1.yaml": {("unstable-api", "warning")},
    "kaito/kaito_inferenceset_phi_4_mini.yaml": {("unstable-api", "warning")},
    "kserve/llm-inference-service-pd-qwen2-7b-gpu.yaml": {("unstable-api", "warning")},
    "kserve/llm-inference-service-qwen2-7b-gpu.yaml": {("unstable-api", "warning")},
}


def test_there_are_samples() -> None:
    assert len(FILES) >= 20


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SAMPLES)))
def test_samples_have_no_schema_errors(path: Path) -> None:
    findings = run_file(path)
    built_in = [f"{f.ref} {f.path}: {f.message}" for f in findings if f.rule in rules.BUILT_IN]
    assert not built_in, built_in


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SAMPLES)))
def test_sample_findings_are_the_known_ones(path: Path) -> None:
    found = {(f.rule, str(f.severity)) for f in run_file(path)}
    assert found == EXPECTED.get(str(path.relative_to(SAMPLES)), set())
