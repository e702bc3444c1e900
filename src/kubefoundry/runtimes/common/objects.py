"""Objects around the workload: Service, route, monitor, cache, disruption budget (the token's
ExternalSecret is in ``tokens``)."""

from __future__ import annotations

import math
from typing import Any

from kubefoundry.planning.plans import Plan
from kubefoundry.runtimes.base import Manifest, Options
from kubefoundry.runtimes.cluster_side import ANY_GATEWAY, Controller, Kind, Operator
from kubefoundry.runtimes.common import engine, kinds, labels, pods

SERVICE_PORT = 80
HTTP_ROUTE = Kind("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes")
APISIX_ROUTE = Kind("apisix.apache.org", "v2", "ApisixRoute", "apisixroutes")
SERVICE_MONITOR = Kind("monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors")
POD_MONITOR = Kind("monitoring.coreos.com", "v1", "PodMonitor", "podmonitors")
# Every kind these builders write, for the runtimes' cluster sides.
KINDS = (
    kinds.SERVICE,
    kinds.PERSISTENT_VOLUME_CLAIM,
    kinds.POD_DISRUPTION_BUDGET,
    kinds.INGRESS,
    HTTP_ROUTE,
    APISIX_ROUTE,
    SERVICE_MONITOR,
    POD_MONITOR,
)
GATEWAY_API = Operator(
    "gateway-api",
    HTTP_ROUTE.crd,
    Controller(
        "a Gateway controller",
        install="install a Gateway API implementation and a GatewayClass it accepts",
        gateway_controllers=(ANY_GATEWAY,),
    ),
)
PROMETHEUS_OPERATOR = Operator("prometheus-operator", SERVICE_MONITOR.crd)


def service(
    plan: Plan, *, runtime: str, component: str, name: str | None = None, port: int = engine.PORT
) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": labels.metadata(plan, name or plan.name, runtime=runtime, component=component),
        "spec": {
            "type": "ClusterIP",
            "selector": labels.selector(plan, component),
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": port, "protocol": "TCP"}
            ],
        },
    }


def cache_size_gib(plan: Plan, options: Options) -> int:
    if options.cache.size_gib:
        return options.cache.size_gib
    return max(10, math.ceil(plan.model_gib * 1.3 / 10) * 10)


def model_cache(plan: Plan, options: Options, *, runtime: str) -> Manifest:
    """One PVC per model, shared across its deployments and kept when they are deleted."""
    meta = labels.metadata(
        plan,
        pods.cache_claim_name(plan),
        runtime=runtime,
        component=labels.MODEL_CACHE,
        annotations={labels.KEEP: "true", "helm.sh/resource-policy": "keep"},
    )
    # Shared by every deployment and runtime serving this model: no deployment or runtime label.
    for key in (labels.DEPLOYMENT, labels.RUNTIME):
        del meta["labels"][key]
    meta["labels"][labels.NAME] = meta["name"]
    spec: dict[str, Any] = {
        "accessModes": [options.cache.access_mode],
        "resources": {"requests": {"storage": f"{cache_size_gib(plan, options)}Gi"}},
    }
    if options.cache.storage_class:
        spec["storageClassName"] = options.cache.storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec}


def route(
    plan: Plan, options: Options, *, runtime: str, service_name: str, port: int = SERVICE_PORT
) -> list[Manifest]:
    """How traffic gets in: a Gateway API HTTPRoute, an Ingress, an APISIX route, or none."""
    if options.exposure == "httproute":
        return [httproute(plan, options, runtime=runtime, backend=_service_ref(service_name, port))]
    if options.exposure == "ingress":
        return [_ingress(plan, options, runtime=runtime, service_name=service_name, port=port)]
    if options.exposure == "apisix":
        return [_apisix(plan, options, runtime=runtime, service_name=service_name, port=port)]
    return []


def _service_ref(name: str, port: int) -> dict[str, Any]:
    return {"name": name, "port": port}


def httproute(plan: Plan, options: Options, *, runtime: str, backend: dict[str, Any]) -> Manifest:
    parent: dict[str, Any] = {"name": options.gateway}
    if options.gateway_namespace:
        parent["namespace"] = options.gateway_namespace
    spec: dict[str, Any] = {
        "parentRefs": [parent],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [backend],
                "timeouts": {"request": "300s"},
            }
        ],
    }
    if options.host:
        spec["hostnames"] = [options.host]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": labels.metadata(plan, plan.name, runtime=runtime, component="route"),
        "spec": spec,
    }


def _ingress(
    plan: Plan, options: Options, *, runtime: str, service_name: str, port: int
) -> Manifest:
    rule: dict[str, Any] = {
        "http": {
            "paths": [
                {
                    "path": "/",
                    "pathType": "Prefix",
                    "backend": {"service": {"name": service_name, "port": {"number": port}}},
                }
            ]
        }
    }
    if options.host:
        rule["host"] = options.host
    spec: dict[str, Any] = {"rules": [rule]}
    if options.ingress_class:
        spec["ingressClassName"] = options.ingress_class
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": labels.metadata(plan, plan.name, runtime=runtime, component="route"),
        "spec": spec,
    }


def _apisix(
    plan: Plan, options: Options, *, runtime: str, service_name: str, port: int
) -> Manifest:
    match: dict[str, Any] = {"paths": ["/*"]}
    if options.host:
        match["hosts"] = [options.host]
    return {
        "apiVersion": "apisix.apache.org/v2",
        "kind": "ApisixRoute",
        "metadata": labels.metadata(plan, plan.name, runtime=runtime, component="route"),
        "spec": {
            "http": [
                {
                    "name": "openai",
                    "match": match,
                    "backends": [{"serviceName": service_name, "servicePort": port}],
                    "timeout": {"read": "300s", "send": "300s"},
                }
            ]
        },
    }


def monitor(
    plan: Plan, options: Options, *, runtime: str, component: str, port: str = "http"
) -> list[Manifest]:
    """Prometheus Operator scraping of ``/metrics``: a ServiceMonitor or a PodMonitor."""
    if options.monitoring == "none":
        return []
    endpoint = {"port": port, "path": "/metrics", "interval": "15s"}
    if options.monitoring == "servicemonitor":
        kind, key = "ServiceMonitor", "endpoints"
    else:
        kind, key = "PodMonitor", "podMetricsEndpoints"
    return [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": kind,
            "metadata": labels.metadata(plan, plan.name, runtime=runtime, component="monitoring"),
            "spec": {
                "selector": {"matchLabels": labels.selector(plan, component)},
                key: [endpoint],
            },
        }
    ]


def disruption_budget(
    plan: Plan, options: Options, *, runtime: str, component: str
) -> list[Manifest]:
    """Voluntary disruptions (node drains) take one replica at a time; none with one replica,
    because a budget that allows zero disruptions blocks every drain."""
    if not options.pdb or plan.replicas < 2:
        return []
    return [
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": labels.metadata(plan, plan.name, runtime=runtime, component=component),
            "spec": {
                "maxUnavailable": 1,
                "selector": {"matchLabels": labels.selector(plan, component)},
            },
        }
    ]
