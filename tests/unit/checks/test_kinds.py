"""The sizing rules read engine settings from every runtime's dialect.

One small manifest per runtime: each must raise the named rule (and, table-driven, the same
manifest with the numbers corrected must not).
"""

from __future__ import annotations

import pytest
from tests.unit.checks.support import rules_of, run

from kubefoundry.checks import reading

CASES = {
    "deployment": (
        """
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec:
      nodeSelector: {nvidia.com/gpu.product: NVIDIA-L4}
      containers:
        - name: vllm
          image: vllm/vllm-openai:v0.10.1
          args: [--model, meta-llama/Llama-3.1-8B-Instruct, --max-model-len, "@LEN@"]
          resources: {limits: {nvidia.com/gpu: 1}}
""",
        "max-model-len-exceeds-memory",
    ),
    "kserve-isvc": (
        """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: k}
spec:
  predictor:
    nodeSelector: {nvidia.com/gpu.product: NVIDIA-L4}
    model:
      modelFormat: {name: huggingface}
      args: [--model_name=llama, --max_model_len=@LEN@]
      storageUri: hf://meta-llama/Llama-3.1-8B-Instruct
      resources: {limits: {nvidia.com/gpu: "1"}}
""",
        "max-model-len-exceeds-memory",
    ),
    "dynamo-v1beta1": (
        """
apiVersion: nvidia.com/v1beta1
kind: DynamoGraphDeployment
metadata: {name: g}
spec:
  components:
    - name: worker
      type: worker
      podTemplate:
        spec:
          nodeSelector: {nvidia.com/gpu.product: NVIDIA-L4}
          containers:
            - name: main
              image: nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.7.0
              command: [python3, -m, dynamo.vllm]
              args: [--model, meta-llama/Llama-3.1-8B-Instruct, --max-model-len, "@LEN@"]
              resources: {limits: {nvidia.com/gpu: "1"}}
""",
        "max-model-len-exceeds-memory",
    ),
    "ray-llm": (
        """
apiVersion: ray.io/v1
kind: RayService
metadata: {name: r}
spec:
  serveConfigV2: |
    applications:
      - name: llms
        import_path: ray.serve.llm:build_openai_app
        args:
          llm_configs:
            - model_loading_config:
                model_id: llama
                model_source: meta-llama/Llama-3.1-8B-Instruct
              accelerator_type: L4
              engine_kwargs: {max_model_len: @LEN@}
  rayClusterConfig:
    headGroupSpec:
      rayStartParams: {num-gpus: "0"}
      template: {spec: {containers: [{name: head, image: rayproject/ray-llm:2.52.0-py311-cu128}]}}
    workerGroupSpecs:
      - groupName: gpu
        replicas: 1
        minReplicas: 1
        maxReplicas: 1
        rayStartParams: {}
        template:
          spec:
            containers:
              - name: worker
                image: rayproject/ray-llm:2.52.0-py311-cu128
                resources: {limits: {nvidia.com/gpu: "1"}}
""",
        "max-model-len-exceeds-memory",
    ),
    "llmisvc-parallelism": (
        """
apiVersion: serving.kserve.io/v1alpha2
kind: LLMInferenceService
metadata: {name: l}
spec:
  model: {uri: hf://Qwen/Qwen2.5-7B-Instruct, name: Qwen/Qwen2.5-7B-Instruct}
  parallelism: {tensor: @TP@}
  template:
    containers:
      - name: main
        resources: {limits: {nvidia.com/gpu: "2"}}
""",
        "parallelism-gpu-mismatch",
    ),
    "dynamo-v1alpha1-multinode": (
        """
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: g}
spec:
  services:
    worker:
      componentType: worker
      multinode: {nodeCount: 2}
      resources: {limits: {gpu: "8"}}
      extraPodSpec:
        mainContainer:
          image: nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.7.0
          command: [python3, -m, dynamo.vllm]
          args: [--model, Qwen/Qwen3-32B, -tp, "8", --pipeline-parallel-size, "@TP@"]
""",
        "parallelism-gpu-mismatch",
    ),
}
# (case, bad values, fixed values)
TABLE = [
    ("deployment", {"len": 131072}, {"len": 16384}),
    ("kserve-isvc", {"len": 131072}, {"len": 16384}),
    ("dynamo-v1beta1", {"len": 131072}, {"len": 16384}),
    ("ray-llm", {"len": 131072}, {"len": 16384}),
    ("llmisvc-parallelism", {"tp": 4}, {"tp": 2}),
    ("dynamo-v1alpha1-multinode", {"tp": 4}, {"tp": 2}),
]


def _fill(template: str, values: dict[str, int]) -> str:
    for key, value in values.items():
        template = template.replace(f"@{key.upper()}@", str(value))
    return template


@pytest.mark.parametrize(("case", "bad", "fixed"), TABLE, ids=[t[0] for t in TABLE])
def test_each_runtime_dialect(case: str, bad: dict[str, int], fixed: dict[str, int]) -> None:
    template, rule = CASES[case]
    caught = run(reading.read_text(_fill(template, bad)))
    assert rule in rules_of(caught), [f.message for f in caught]
    assert "schema" not in rules_of(caught), [f.message for f in caught if f.rule == "schema"]
    clean = run(reading.read_text(_fill(template, fixed)))
    assert rule not in rules_of(clean), [f.message for f in clean if f.rule == rule]
