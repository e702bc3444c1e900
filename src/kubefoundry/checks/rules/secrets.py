"""Credentials written into manifests, and variable references Kubernetes never expands.

``secret-inlined``: a Hugging Face token anywhere; an env var named like a credential
(``HF_TOKEN``, ``HUGGING_FACE_HUB_TOKEN``, ``*_API_KEY``…) with a literal value; a Secret or
ConfigMap holding one. ``env-var-not-expanded``: an env value written ``$HF_TOKEN`` or
``${HF_TOKEN}``, which Kubernetes passes on as that text (it expands only ``$(VAR)``).
Tokens inside a RayService's ``serveConfigV2`` belong to ``ray-secret-in-runtime-env``.
No finding ever holds the value: only :func:`~kubefoundry.checks.findings.mask` of it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from typing import Any

from kubefoundry.checks import tokens
from kubefoundry.checks.context import Context
from kubefoundry.checks.documents import Document, join, mapping, text
from kubefoundry.checks.findings import Finding, Severity, mask

SECRET_INLINED = "secret-inlined"
ENV_VAR_NOT_EXPANDED = "env-var-not-expanded"
_SECRET_REF = (
    "create the Secret out of band (kubectl create secret generic hf-token "
    "--from-literal=token=…, or an ExternalSecret) and reference it: env: [{{name: {name}, "
    "valueFrom: {{secretKeyRef: {{name: hf-token, key: token}}}}}}]."
)


def secret_inlined(doc: Document, ctx: Context) -> Iterator[Finding]:
    reported: set[str] = set()
    for path, key, value in _stored_values(doc):
        if tokens.is_placeholder(value) or value in reported:
            continue
        if tokens.is_token_name(key) or tokens.token_values(value):
            reported.add(value)
            yield doc.finding(
                SECRET_INLINED,
                Severity.ERROR,
                message=f"{doc.kind} {doc.name} stores a credential in {key} ({mask(value)}) "
                "in the manifest itself: it ends up in Git and in every copy of the file.",
                fix="Revoke the token, delete this value from the file and create the "
                f"{doc.kind} out of band (kubectl create secret generic {doc.name} "
                f"--from-literal={key}=…) or render it from your secret store with an "
                "ExternalSecret (external-secrets.io/v1).",
                path=path,
            )
    for path, name, value in _env_values(doc.obj, ""):
        if value in reported or tokens.is_placeholder(value):
            continue
        if tokens.is_token_name(name) or tokens.token_values(value):
            reported.add(value)
            yield doc.finding(
                SECRET_INLINED,
                Severity.ERROR,
                message=f"env {name} is set to a literal credential ({mask(value)}): anyone "
                "who can read this object, its file or its Git history has the token.",
                fix="Revoke the token, " + _SECRET_REF.format(name=name),
                path=path,
            )
    for path, value in _strings(doc.obj, "", skip=_skipped(doc)):
        for token in tokens.token_values(value):
            if token not in reported:
                reported.add(token)
                yield doc.finding(
                    SECRET_INLINED,
                    Severity.ERROR,
                    message=f"A Hugging Face token ({mask(token)}) is written into the manifest.",
                    fix="Revoke it and read it from a Secret instead "
                    "(env.valueFrom.secretKeyRef); never put the value in a manifest.",
                    path=path,
                )


def env_var_not_expanded(doc: Document, ctx: Context) -> Iterator[Finding]:
    for path, name, value in _env_values(doc.obj, ""):
        if not tokens.SHELL_REFERENCE.match(value.strip()):
            continue
        ref = value.strip().strip("${}")
        secret = tokens.is_token_name(name)
        yield doc.finding(
            ENV_VAR_NOT_EXPANDED,
            Severity.ERROR if secret else Severity.WARNING,
            message=f"env {name} is the literal text {value!r}: Kubernetes expands only "
            f"$(VAR) references to the container's own variables, so the process gets "
            + (
                "that text instead of the token and gated downloads fail with 401."
                if secret
                else "that text."
            ),
            fix="Put the token in a Secret: " + _SECRET_REF.format(name=name)
            if secret
            else f"Write the value itself, or $({ref}) if {ref} is defined earlier in the same "
            "container's env.",
            path=path,
        )


def secret_values(doc: Document) -> list[str]:
    """Every value that must never be printed (used to redact all findings)."""
    values = [
        v for _, k, v in _stored_values(doc) if tokens.is_token_name(k) or doc.kind == "Secret"
    ]
    values += [v for _, n, v in _env_values(doc.obj, "") if tokens.is_token_name(n)]
    values += [t for _, s in _strings(doc.obj, "", skip=()) for t in tokens.token_values(s)]
    return [v for v in values if not tokens.is_placeholder(v)]


def _skipped(doc: Document) -> tuple[str, ...]:
    return ("spec.serveConfigV2",) if doc.kind == "RayService" else ()


def _stored_values(doc: Document) -> Iterator[tuple[str, str, str]]:
    """(path, key, value) of a Secret's data/stringData or a ConfigMap's data."""
    if doc.kind == "Secret":
        for key, raw in mapping(doc.obj, "data").items():
            if isinstance(raw, str):
                yield join("data", str(key)), str(key), _decode(raw)
        for key, raw in mapping(doc.obj, "stringData").items():
            if isinstance(raw, str):
                yield join("stringData", str(key)), str(key), raw
    elif doc.kind == "ConfigMap":
        for key, raw in mapping(doc.obj, "data").items():
            if isinstance(raw, str) and tokens.is_token_name(str(key)):
                yield join("data", str(key)), str(key), raw


def _decode(raw: str) -> str:
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8").strip()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return raw


def _env_values(node: Any, path: str) -> Iterator[tuple[str, str, str]]:
    """(path, name, value) of every env-like entry ({name, value}) anywhere in ``node``."""
    if isinstance(node, Mapping):
        name, value = text(node, "name"), text(node, "value")
        if name is not None and value is not None and set(node) <= {"name", "value"}:
            yield path, name, value
            return
        for key, child in node.items():
            yield from _env_values(child, join(path, str(key)))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _env_values(child, join(path, i))


def _strings(node: Any, path: str, *, skip: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    if path in skip:
        return
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, Mapping):
        for key, child in node.items():
            yield from _strings(child, join(path, str(key)), skip=skip)
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _strings(child, join(path, i), skip=skip)
