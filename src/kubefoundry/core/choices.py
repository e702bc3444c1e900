"""The closed vocabularies of a deployment request, and its vLLM default, declared once.

The CLI's options (which list them in ``--help`` and refuse anything else), the request
schema, the planner and the renderers all take these types from here. Plain ``Literal``s in
a module that imports nothing, so the command line can be built without loading the engine.
"""

from __future__ import annotations

from typing import Literal

Tier = Literal["good", "better", "best"]
Cloud = Literal["aws", "gcp", "azure", "onprem"]
QuantFlag = Literal["none", "fp8", "int8", "w8a8", "w4a16", "awq", "gptq", "mxfp4"]
DtypeFlag = Literal["auto", "bf16", "fp16", "fp32"]
KvCacheDtype = Literal["auto", "fp8"]
Exposure = Literal["none", "httproute", "ingress", "apisix"]
Monitoring = Literal["none", "servicemonitor", "podmonitor"]
TokenSource = Literal["secret", "external-secret"]
Workload = Literal["chat", "rag", "agent", "code", "summarization", "reasoning", "batch"]
Platform = Literal["nvidia", "xeon", "gaudi", "gaudi3"]
MultiNode = Literal["ray", "native"]
ExportFormat = Literal["yaml", "helm", "kustomize"]
OutputFormat = Literal["json", "yaml"]

# The vLLM release plans are made for when the request names none (the engine profiles in
# planning/engine_profiles.py hold what each release does); here so `--help` can show it.
DEFAULT_VLLM_VERSION = "0.34.0"
