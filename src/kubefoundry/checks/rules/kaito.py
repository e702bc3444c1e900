"""KAITO rules: the ConfigMap key KAITO reads, and ``resource.count`` (nodes, not replicas)."""

from __future__ import annotations

from collections.abc import Iterator

from kubefoundry.checks import engines, hardware, kaito, sizing
from kubefoundry.checks.context import Context
from kubefoundry.checks.documents import Document, join, mapping, number, text
from kubefoundry.checks.findings import Finding, Severity
from kubefoundry.core import naming
from kubefoundry.planning import parallelism

KAITO_CONFIG_KEY = "kaito-config-key"
KAITO_COUNT_VS_REPLICAS = "kaito-count-vs-replicas"
_COUNT_CHECK_CONTEXT = 8192  # context a "fits on one node" check sizes for


def config_key(doc: Document, ctx: Context) -> Iterator[Finding]:
    name = kaito.config_name(doc)
    if not name:
        return
    prefix = kaito.base(doc)[0]
    path = join(prefix, "inference", "config")
    cfg = kaito.config(doc, ctx)
    if cfg is None:
        yield doc.finding(
            KAITO_CONFIG_KEY,
            Severity.INFO,
            message=f"inference.config names ConfigMap {name}, which is not among the checked "
            f"files; KAITO reads only its key {kaito.CONFIG_KEY} and ignores any other.",
            fix=f"Check ConfigMap {name} too (kubefoundry check it with this file), and make "
            f"sure its data key is exactly {kaito.CONFIG_KEY}.",
            path=path,
        )
        return
    keys = list(mapping(cfg.configmap.obj, "data"))
    if cfg.error and kaito.CONFIG_KEY not in keys:
        close = naming.suggest(kaito.CONFIG_KEY, keys, limit=1) or keys[:1]
        rename = f"Rename data key {close[0]!r} to" if close else "Add the data key"
        yield doc.finding(
            KAITO_CONFIG_KEY,
            Severity.ERROR,
            message=f"ConfigMap {name} has no key {kaito.CONFIG_KEY} (it has: "
            f"{', '.join(keys) or 'no keys'}): KAITO silently ignores it and runs its defaults.",
            fix=f"{rename} {kaito.CONFIG_KEY} in ConfigMap {name}.",
            path=path,
        )
        return
    if cfg.error:
        yield doc.finding(
            KAITO_CONFIG_KEY,
            Severity.ERROR,
            message=f"ConfigMap {name}: {cfg.error}; the inference pod fails to start.",
            fix=f"Fix the YAML under data.{kaito.CONFIG_KEY} in ConfigMap {name}.",
            path=path,
        )
        return
    stray = [k for k in (cfg.data or {}) if k not in kaito.CONFIG_FIELDS]
    if stray:
        yield doc.finding(
            KAITO_CONFIG_KEY,
            Severity.ERROR,
            message=f"{kaito.CONFIG_KEY} in ConfigMap {name} has top-level key(s) "
            f"{', '.join(map(str, stray))} that KAITO ignores: it reads only "
            f"{', '.join(kaito.CONFIG_FIELDS)}.",
            fix="Move vLLM settings under 'vllm:' (e.g. vllm: {max-model-len: 8192}) and "
            "delete the rest.",
            path=path,
        )


def count_vs_replicas(doc: Document, ctx: Context) -> Iterator[Finding]:
    if doc.kind != "Workspace":
        return
    count = number(doc.obj, "resource", "count")
    instance_type = text(doc.obj, "resource", "instanceType")
    model = hardware.model(kaito.preset(doc), ctx)
    hw = hardware.instance(instance_type, ctx) if instance_type else None
    if not count or count <= 1 or model is None or hw is None or not hw.gpus_per_node:
        return
    cfg = kaito.config(doc, ctx)
    vllm = mapping(cfg.data, "vllm") if cfg and cfg.data else {}
    engine = engines.from_kwargs(vllm)
    context = min(engine.max_model_len or _COUNT_CHECK_CONTEXT, model.arch.max_position_embeddings)
    sizes = parallelism.valid_tp_sizes(model.arch, limit=hw.gpus_per_node)
    fit = sizing.fit(
        model,
        hw.gpu,
        engine,
        max_model_len=context,
        tp=max(sizes, default=1),
        default_utilization=kaito.DEFAULT_GPU_MEMORY_UTILIZATION,
    )
    if fit is None or fit.max_context < context:
        return
    yield doc.finding(
        KAITO_COUNT_VS_REPLICAS,
        Severity.WARNING,
        message=f"resource.count: {count} asks KAITO for {count} nodes of {instance_type} "
        f"({hw.gpus_per_node} × {hw.gpu.id} each) for one copy of {model.id}, which fits on "
        f"one node ({fit.estimate.weights_gib:.1f} GiB of weights per GPU, {context:,} tokens "
        "of context): count is GPU nodes per workspace, not replicas, so the extra nodes "
        "split the same model instead of serving more traffic (count is also deprecated "
        "in kaito.sh/v1beta1).",
        fix="Set resource.count: 1 (or remove it). For several copies behind one endpoint "
        f"use an InferenceSet (kaito.sh/v1beta1) with spec.replicas: {count} and this "
        "Workspace's inference and resource.instanceType as spec.template.",
        path="resource.count",
    )
