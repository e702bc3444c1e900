"""The seed's ``ML_INFERENCE_LOAD`` Helm chart for a TGI plan (``shared/seeds/002_…``).

Layout as in the seed: ``Chart.yaml``, ``values.yaml``, ``values.schema.json`` and
``templates/`` (deployment, service, httproute, external-secret, servicemonitor, plus the
model cache, disruption budget and KEDA ScaledObject a plan adds). Every value is read from
the objects ``runtimes/tgi.py`` renders for the same plan, so the chart and the renderer say
the same thing; the schema is generated from ``tgivalues.ChartValues``.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from pydantic import ValidationError

from kubefoundry.core.errors import InvalidInputError
from kubefoundry.core.files import field_errors
from kubefoundry.planning.plans import Plan
from kubefoundry.runtimes import base, tgi
from kubefoundry.runtimes.base import Manifest, Options, Token
from kubefoundry.runtimes.common import engine, labels, objects, pods, scaling, tokens
from kubefoundry.runtimes.export import tgitemplates, tgivalues
from kubefoundry.runtimes.export.tgivalues import ChartValues

CHART_NAME = "ml-inference-load"
CHART_VERSION = "0.1.0"


def files(
    plan: Plan, options: Options, *, environment: str = "prod", service_catalog: str = labels.OURS
) -> dict[str, str]:
    """Every file of the chart (relative path → text)."""
    try:
        chart_values = values(
            plan, options, environment=environment, service_catalog=service_catalog
        )
    except ValidationError as exc:
        problems = "; ".join(f"{loc}: {msg}" for loc, msg in field_errors(exc))
        raise InvalidInputError(
            f"The plan does not make valid ML_INFERENCE_LOAD chart values: {problems}.",
            hint="Names (deployment, Secret, cache claim) must be DNS labels.",
        ) from None
    data = chart_values.model_dump(by_alias=True, mode="json")
    return {
        "Chart.yaml": _dump(_chart(plan, app_version=chart_values.inference.image.tag)),
        "values.yaml": _HEADER + _dump(data),
        "values.schema.json": json.dumps(tgivalues.json_schema(), indent=2) + "\n",
        **tgitemplates.templates(),
    }


def values(plan: Plan, options: Options, *, environment: str, service_catalog: str) -> ChartValues:
    refused = base.refusal(tgi.TgiRuntime(), plan, options)
    if refused:
        raise InvalidInputError(
            f"No ML_INFERENCE_LOAD chart for this plan: {refused}.",
            hint="Export it in the yaml or kustomize format of the runtime the reason names.",
        )
    token = tokens.resolve(plan, options)
    deployment = scaling.initial(plan, tgi.deployment(plan, options, token=token), plan.replicas)
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    return ChartValues(
        service_name=plan.name,
        service_catalog=service_catalog,
        namespace=plan.namespace or "",
        environment=environment,
        replicas=plan.replicas,  # the template leaves it out when autoscaling owns it
        annotations=deployment["metadata"]["annotations"],
        ingress=_ingress(plan, options),
        model=tgivalues.Model(
            id=plan.model_id, revision=tgi.settings(plan).revision or "", name=plan.model_name
        ),
        inference=_inference(plan, options),
        gpu=_gpu(plan, pod),
        **_token(plan, options, token, container),
        resources=_resources(plan, container),
        health_check=_health_check(container),
        termination_grace_period_seconds=pod["terminationGracePeriodSeconds"],
        basic_monitoring=_monitoring(plan, options),
        storage=tgivalues.Storage(model_cache=_model_cache(plan, options)),
        autoscaling=_autoscaling(plan, options),
        pod_disruption_budget=tgivalues.Toggle(
            enabled=bool(objects.disruption_budget(plan, options, runtime=tgi.NAME, component=""))
        ),
    )


def _inference(plan: Plan, options: Options) -> tgivalues.Inference:
    s = tgi.settings(plan)
    ref = tgi.image(options)
    tag = engine.image_tag(ref)
    return tgivalues.Inference(
        image=tgivalues.Image(repository=ref.split("@")[0].removesuffix(f":{tag}"), tag=tag),
        max_input_length=s.max_input_tokens,
        max_total_tokens=s.max_total_tokens,
        port=tgi.PORT,
        num_shard=s.num_shard,
        dtype=s.dtype or "",
        quantize=s.quantize or "",
        kv_cache_dtype=s.kv_cache_dtype or "",
        cuda_memory_fraction=s.cuda_memory_fraction,
        prefix_caching=s.prefix_caching,
    )


def _ingress(plan: Plan, options: Options) -> tgivalues.Ingress:
    route = objects.httproute(plan, options, runtime=tgi.NAME, backend={})
    parent = route["spec"]["parentRefs"][0]
    return tgivalues.Ingress(
        enabled=options.exposure == "httproute",
        host=options.host or "",
        gateway=tgivalues.Gateway(name=parent["name"], namespace=parent.get("namespace", "")),
        request_timeout=route["spec"]["rules"][0]["timeouts"]["request"],
    )


def _gpu(plan: Plan, pod: dict[str, Any]) -> tgivalues.Gpu:
    return tgivalues.Gpu(
        count=pods.gpus_per_pod(plan),
        resource_name=plan.gpu_resource,
        runtime_class_name=pod["runtimeClassName"],
        node_selector=pod["nodeSelector"],
        tolerations=pod.get("tolerations", []),
    )


def _token(
    plan: Plan, options: Options, token: Token | None, container: dict[str, Any]
) -> dict[str, Any]:
    """``hfToken``, ``vault`` and ``secretStore``: the env reference and the ExternalSecret."""
    ref: dict[str, Any] = next(
        (e["valueFrom"]["secretKeyRef"] for e in container["env"] if e["name"] == tokens.ENV), {}
    )
    secret = tokens.external_secret(
        plan,
        secret=token.secret if token else tokens.secret_name(plan, options),
        key=token.key if token else options.token.secret_key,
        store=options.token,
        runtime=tgi.NAME,
    )["spec"]
    remote = secret["data"][0]["remoteRef"]
    return {
        "hf_token": tgivalues.HfToken(
            enabled=bool(ref),
            secret_name=secret["target"]["name"],
            secret_key=secret["data"][0]["secretKey"],
            optional=ref.get("optional", False),
        ),
        "vault": tgivalues.Vault(
            enabled=bool(tokens.objects(plan, token, runtime=tgi.NAME)),
            hf_token_path=remote["key"],
            property=remote.get("property", ""),
            refresh_interval=secret["refreshInterval"],
        ),
        "secret_store": tgivalues.SecretStore(**secret["secretStoreRef"]),
    }


def _resources(plan: Plan, container: dict[str, Any]) -> tgivalues.Resources:
    """The container's resources without the GPU, which ``gpu.count`` adds back."""
    res = container["resources"]
    requests, limits = (
        {k: v for k, v in res[part].items() if k != plan.gpu_resource}
        for part in ("requests", "limits")
    )
    return tgivalues.Resources(requests=requests, limits=limits)


def _health_check(container: dict[str, Any]) -> tgivalues.HealthCheck:
    def probe(kind: str) -> tgivalues.Probe:
        p = container[kind]
        return tgivalues.Probe(
            period_seconds=p["periodSeconds"],
            timeout_seconds=p["timeoutSeconds"],
            failure_threshold=p["failureThreshold"],
        )

    return tgivalues.HealthCheck(
        path=container["startupProbe"]["httpGet"]["path"],
        startup=probe("startupProbe"),
        readiness=probe("readinessProbe"),
        liveness=probe("livenessProbe"),
    )


def _monitoring(plan: Plan, options: Options) -> tgivalues.Monitoring:
    """On for either monitor kind: the chart scrapes through the Service (ServiceMonitor)."""
    shown = Options(monitoring="servicemonitor")
    (monitor,) = objects.monitor(plan, shown, runtime=tgi.NAME, component=tgi.COMPONENT)
    return tgivalues.Monitoring(
        enabled=options.monitoring != "none", interval=monitor["spec"]["endpoints"][0]["interval"]
    )


def _model_cache(plan: Plan, options: Options) -> tgivalues.ModelCache:
    claim: Manifest = objects.model_cache(plan, options, runtime=tgi.NAME)
    spec = claim["spec"]
    return tgivalues.ModelCache(
        enabled=options.cache.enabled,
        create=options.cache.enabled,
        claim_name=claim["metadata"]["name"],
        size=spec["resources"]["requests"]["storage"],
        storage_class=spec.get("storageClassName", ""),
        access_mode=spec["accessModes"][0],
        mount_path=engine.CACHE_PATH,
    )


def _autoscaling(plan: Plan, options: Options) -> tgivalues.Autoscaling:
    s = plan.autoscaling
    return tgivalues.Autoscaling(
        enabled=scaling.wants_scaler(plan),
        min_replicas=s.min_replicas,
        max_replicas=s.max_replicas,
        queue_size_target=s.target,
        cooldown_seconds=s.cooldown_s,
        prometheus_address=options.prometheus,
    )


def _chart(plan: Plan, *, app_version: str) -> dict[str, Any]:
    return {
        "apiVersion": "v2",
        "name": CHART_NAME,
        "description": f"ML_INFERENCE_LOAD: {plan.model_id} on Hugging Face TGI "
        f"({plan.gpu_count}x {plan.gpu} per replica), generated by KubeFoundry",
        "type": "application",
        "version": CHART_VERSION,
        "appVersion": app_version,
        "annotations": {labels.DEPLOYMENT: plan.name},
    }


_HEADER = """\
# ML_INFERENCE_LOAD values, generated by KubeFoundry from a plan (every number is planned).
# values.schema.json checks them; re-render rather than edit when the plan changes.
"""


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, width=1000)
