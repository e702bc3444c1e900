"""The Hugging Face token: decided once per render (``resolve``), then referenced by the pods
(``env``), written by an ExternalSecret (``objects``) and explained (``warning``) from that one
``Token``, so the key a warning names is the key the objects use.

Most runtimes read the key the user's options name (``token`` by default). An operator that
reads the Secret itself fixes its own key: KAITO's Workspace controller and KServe's storage
initializer read ``HF_TOKEN``; such a runtime says so with a ``token(plan, options)`` hook.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubefoundry.planning.plans import Plan
from kubefoundry.runtimes.base import Manifest, Options, Runtime, Token, TokenOptions
from kubefoundry.runtimes.cluster_side import Controller, Kind, Operator
from kubefoundry.runtimes.common import labels

ENV = "HF_TOKEN"  # the variable vLLM, TGI and Ray read the token from
EXTERNAL_SECRET = Kind("external-secrets.io", "v1", "ExternalSecret", "externalsecrets")
KINDS = (EXTERNAL_SECRET,)
# The external-secrets controller's leader-election ID and its Helm chart's pod label.
EXTERNAL_SECRETS = Operator(
    "external-secrets",
    EXTERNAL_SECRET.crd,
    Controller(
        "the External Secrets controller",
        install="install External Secrets (helm install external-secrets "
        "external-secrets/external-secrets) or start it",
        leases=("external-secrets-controller",),
        pods=("app.kubernetes.io/name=external-secrets",),
    ),
)


def secret_name(plan: Plan, options: Options) -> str:
    return options.token.secret_name or plan.hf_token_secret or f"{plan.name}-hf-token"


def needed(plan: Plan, options: Options) -> bool:
    """Gated models need one; a named Secret is always wired in."""
    return bool(plan.gated or plan.hf_token_secret or options.token.secret_name)


def resolve(
    plan: Plan, options: Options, *, key: str | None = None, required: bool = False
) -> Token | None:
    """The token the pods read, or None when they read none.

    ``key``: the key an operator reads instead of the options' one. A model whose gating is
    unknown (outside the catalog, offline) gets an optional reference, so the pod starts
    whether or not the Secret exists, unless ``required`` (the operator's reference has no
    optional form).
    """
    need = needed(plan, options)
    if not need and plan.gated is not None:
        return None
    return Token(
        secret=secret_name(plan, options),
        key=key or options.token.secret_key,
        optional=not need and not required,
        given=bool(options.token.secret_name or plan.hf_token_secret),
        options=options.token,
    )


def for_runtime(runtime: Runtime, plan: Plan, options: Options) -> Token | None:
    """The token ``runtime`` renders: its own ``token`` hook, or the options' key."""
    hook: Callable[[Plan, Options], Token | None] | None = getattr(runtime, "token", None)
    return hook(plan, options) if hook is not None else resolve(plan, options)


def env(token: Token | None, *, names: tuple[str, ...] = (ENV,)) -> list[dict[str, Any]]:
    """Environment that reads the token from its Secret; never the token itself."""
    if token is None:
        return []
    ref: dict[str, Any] = {"name": token.secret, "key": token.key}
    if token.optional:
        ref["optional"] = True
    return [{"name": n, "valueFrom": {"secretKeyRef": dict(ref)}} for n in names]


def objects(plan: Plan, token: Token | None, *, runtime: str) -> list[Manifest]:
    """The ExternalSecret when the token comes from a secret store; nothing otherwise (the
    Secret is referenced by name and created by ``kubefoundry deploy`` or the user)."""
    if token is None or token.optional or token.source != "external-secret":
        return []
    return [
        external_secret(
            plan, secret=token.secret, key=token.key, store=token.options, runtime=runtime
        )
    ]


def external_secret(
    plan: Plan, *, secret: str, key: str, store: TokenOptions, runtime: str
) -> Manifest:
    """An ExternalSecret that writes ``key`` of Secret ``secret`` from the user's store."""
    remote: dict[str, Any] = {"key": store.remote_key}
    if store.remote_property:
        remote["property"] = store.remote_property
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": labels.metadata(plan, secret, runtime=runtime, component="token"),
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"name": store.store, "kind": store.store_kind},
            "target": {"name": secret, "creationPolicy": "Owner"},
            "data": [{"secretKey": key, "remoteRef": remote}],
        },
    }


def warning(plan: Plan, token: Token | None) -> str | None:
    """What the user must provide for the pods to read ``token``, or None when nothing: one
    line, naming the Secret and the key the objects use, and the step that fits the source."""
    if token is None or token.optional:
        return None
    reads = f'the pods read the Hugging Face token from key "{token.key}" of Secret {token.secret}'
    return f"{_subject(plan)}: {reads}; {_how(plan, token)}. The token never goes into a manifest."


def _subject(plan: Plan) -> str:
    if plan.gated:
        return f"{plan.model_id} is gated"
    if plan.gated is None:
        return f"Whether {plan.model_id} is gated is not known"
    return f"{plan.model_id} is not gated, but a token Secret is named"


def _how(plan: Plan, token: Token) -> str:
    o = token.options
    if token.source == "external-secret":
        where = o.remote_key + (f" (property {o.remote_property})" if o.remote_property else "")
        return (
            f"ExternalSecret {token.secret} writes it from {where} through {o.store_kind} "
            f"{o.store}: that store must be configured in External Secrets Operator and hold "
            "the token there"
        )
    namespace = f" -n {plan.namespace}" if plan.namespace else ""
    create = f"kubectl{namespace} create secret generic {token.secret} --from-file={token.key}=PATH"
    if token.given:
        return f"that Secret must hold the token under this key (`{create}` makes one)"
    return (
        f"a deploy creates it when KubeFoundry is given the token (HF_TOKEN); otherwise "
        f"create it (`{create}`) or name your own in `hf_token_secret`"
    )
