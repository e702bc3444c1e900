"""The endpoint picker (EPP): per request, which vLLM pod of the InferencePool serves it.

Rendered pieces: its ServiceAccount, a namespaced Role and RoleBinding (read pods, the pool and
InferenceObjectives), the ConfigMap with its plugin configuration, the Deployment and the Service
the InferencePool's ``endpointPickerRef`` points at.

The plugin configuration is built as a data structure and serialised once: prefix-cache-aware
and KV-cache-utilisation-aware scorers next to queue depth, weighted for the workload; with
prefill/decode disaggregation, a prefill and a decode profile and the decider that sends a
request to a prefill pod only when enough of its prompt is not cached on the decode pod.
The EPP is llm-d-router's build, the release whose InferenceObjective CRD (``llm-d.ai``) we render.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import yaml

from kubefoundry.core import identity
from kubefoundry.planning.plans import Plan
from kubefoundry.runtimes.base import Manifest, Options
from kubefoundry.runtimes.common import labels, pods

RUNTIME = "llmd"
COMPONENT = identity.ENDPOINT_PICKER  # a helper: deploy counts no replica for its pod
VERSION = "v0.10.0"  # llm-d-router; its EPP reads llm-d.ai/v1alpha2 InferenceObjectives
IMAGE = f"ghcr.io/llm-d/llm-d-router-endpoint-picker:{VERSION}"
GRPC_PORT = 9002  # ext-proc: the gateway asks the picker here
HEALTH_PORT = 9003
METRICS_PORT = 9090
CONFIG_DIR = "/config"
CONFIG_FILE = "epp-config.yaml"
POOL_GROUP = "inference.networking.k8s.io"
PREFIX = "prefix-cache-scorer"
KV = "kv-cache-utilization-scorer"
QUEUE = "queue-scorer"
# Scorer weights per workload: prefix hits pay most where prompts repeat long prefixes,
# queue depth where throughput matters more than time to first token.
WEIGHTS: Mapping[str, Mapping[str, int]] = MappingProxyType(
    {
        "chat": {PREFIX: 3, KV: 2, QUEUE: 2},  # llm-d-router's own default
        "rag": {PREFIX: 4, KV: 2, QUEUE: 1},  # system prompt + retrieved documents repeat
        "agent": {PREFIX: 4, KV: 2, QUEUE: 1},  # each step resends the growing context
        "batch": {PREFIX: 1, KV: 2, QUEUE: 3},  # spread load evenly, TTFT matters little
    }
)
# A prompt whose uncached part is shorter than this is prefilled on the decode pod itself:
# moving a few tokens' KV over the network costs more than computing it (upstream's value).
PD_NON_CACHED_TOKENS = 16


def name(plan: Plan) -> str:
    return f"{plan.name}-epp"


def weights(plan: Plan, options: Options) -> dict[str, int]:
    """The scorers and their weights; no prefix scorer when vLLM caches no prefixes."""
    out = dict(WEIGHTS[options.workload])
    if not plan.prefix_caching:
        del out[PREFIX]
    return out


def picker_config(plan: Plan, options: Options, *, disaggregated: bool) -> dict[str, Any]:
    """The EndpointPickerConfig, as data (serialised into the ConfigMap once)."""
    scorers = weights(plan, options)
    plugins: list[dict[str, Any]] = [{"type": t} for t in scorers]
    plugins += [
        {"type": "max-score-picker"},
        {"type": "metrics-data-source", "parameters": {"scheme": "http", "path": "/metrics"}},
        {"type": "core-metrics-extractor"},
    ]
    if disaggregated:
        plugins += [
            {"type": "prefill-filter"},
            {"type": "decode-filter"},
            {
                "type": "prefix-based-pd-decider",
                "parameters": {"nonCachedTokens": PD_NON_CACHED_TOKENS},
            },
            {
                "type": "disagg-profile-handler",
                "parameters": {"deciders": {"prefill": "prefix-based-pd-decider"}},
            },
        ]
        profiles = [_profile("prefill", "prefill-filter", scorers)]
        profiles.append(_profile("decode", "decode-filter", scorers))
    else:
        plugins.append({"type": "single-profile-handler"})
        profiles = [_profile("default", None, scorers)]
    return {
        "apiVersion": "llm-d.ai/v1alpha1",
        "kind": "EndpointPickerConfig",
        "plugins": plugins,
        "schedulingProfiles": profiles,
    }


def _profile(profile: str, keep: str | None, scorers: Mapping[str, int]) -> dict[str, Any]:
    refs: list[dict[str, Any]] = [{"pluginRef": keep}] if keep else []
    refs += [{"pluginRef": t, "weight": w} for t, w in scorers.items()]
    refs.append({"pluginRef": "max-score-picker"})
    return {"name": profile, "plugins": refs}


def objects(plan: Plan, options: Options, *, disaggregated: bool) -> list[Manifest]:
    config = picker_config(plan, options, disaggregated=disaggregated)
    return [
        _account(plan),
        _role(plan),
        _binding(plan),
        _config_map(plan, config),
        deployment(plan),
        service(plan),
    ]


def _meta(plan: Plan, object_name: str | None = None) -> dict[str, Any]:
    return labels.metadata(plan, object_name or name(plan), runtime=RUNTIME, component=COMPONENT)


def _account(plan: Plan) -> Manifest:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(plan)}


def _role(plan: Plan) -> Manifest:
    """Read-only, namespaced: the picker watches its pool's pods, the pool and its objectives."""
    read = ["get", "list", "watch"]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(plan),
        "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": read},
            {"apiGroups": [POOL_GROUP], "resources": ["inferencepools"], "verbs": read},
            {
                "apiGroups": ["llm-d.ai"],
                "resources": ["inferenceobjectives", "inferencemodelrewrites"],
                "verbs": read,
            },
        ],
    }


def _binding(plan: Plan) -> Manifest:
    subject: dict[str, Any] = {"kind": "ServiceAccount", "name": name(plan)}
    if plan.namespace:
        subject["namespace"] = plan.namespace
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(plan),
        "subjects": [subject],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name(plan)},
    }


def _config_map(plan: Plan, config: Mapping[str, Any]) -> Manifest:
    text = yaml.safe_dump(dict(config), sort_keys=False)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(plan),
        "data": {CONFIG_FILE: text},
    }


def _container(plan: Plan) -> dict[str, Any]:
    health = {"port": HEALTH_PORT, "service": "inference-extension"}
    field = {"fieldRef": {"fieldPath": "metadata.namespace"}}
    return {
        "name": "epp",
        "image": IMAGE,
        "args": [
            *("--pool-name", plan.name, "--pool-group", POOL_GROUP),
            *("--config-file", f"{CONFIG_DIR}/{CONFIG_FILE}"),
            *("--grpc-port", str(GRPC_PORT), "--grpc-health-port", str(HEALTH_PORT)),
            "--zap-encoder",
            "json",
            # Prometheus scrapes without a token: no cluster-wide TokenReview RBAC is rendered.
            "--metrics-endpoint-auth=false",
        ],
        # The pool's namespace is the pod's own (no --pool-namespace to keep in sync).
        "env": [{"name": "NAMESPACE", "valueFrom": field}],
        "ports": [
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
            {"name": "grpc-health", "containerPort": HEALTH_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        # llm-d-router's chart: CPU for tokenising and hashing prompts, memory for prefix indexes.
        "resources": {
            "requests": {"cpu": "8", "memory": "8Gi"},
            "limits": {"memory": "16Gi"},
        },
        "livenessProbe": {"grpc": dict(health), "initialDelaySeconds": 5, "periodSeconds": 10},
        "readinessProbe": {"grpc": dict(health), "periodSeconds": 2},
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR}],
    }


def deployment(plan: Plan) -> Manifest:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(plan),
        "spec": {
            "replicas": 1,  # one picker: more need leader election and share no prefix index
            "selector": {"matchLabels": labels.selector(plan, COMPONENT)},
            "template": {
                "metadata": {"labels": labels.labels(plan, runtime=RUNTIME, component=COMPONENT)},
                "spec": {
                    "serviceAccountName": name(plan),
                    # As long as the model servers it routes to take to drain.
                    "terminationGracePeriodSeconds": pods.termination_grace_s(plan),
                    "containers": [_container(plan)],
                    "volumes": [{"name": "config", "configMap": {"name": name(plan)}}],
                },
            },
        },
    }


def service(plan: Plan) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(plan),
        "spec": {
            "type": "ClusterIP",
            "selector": labels.selector(plan, COMPONENT),
            "ports": [
                {
                    "name": "grpc-ext-proc",
                    "port": GRPC_PORT,
                    "targetPort": GRPC_PORT,
                    "protocol": "TCP",
                    "appProtocol": "kubernetes.io/h2c",
                },
                {
                    "name": "metrics",
                    "port": METRICS_PORT,
                    "targetPort": METRICS_PORT,
                    "protocol": "TCP",
                },
            ],
        },
    }
