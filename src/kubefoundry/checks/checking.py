"""``check(manifests, *, schemas, facts=None) -> findings``: the checker's one entry point.

Each object is validated against the real schema of its kind (Kubernetes' OpenAPI for core
kinds, the served CRD version for custom resources), then every pitfall rule in
:data:`~kubefoundry.checks.rules.RULES` looks at it. CEL rules (``x-kubernetes-
validations``) are not evaluated; a real API server's dry-run does that. Every finding is
redacted before it is returned: no secret value found in the input can come back out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

from kubefoundry.checks import rules
from kubefoundry.checks.context import Catalogs, Context
from kubefoundry.checks.documents import Document
from kubefoundry.checks.findings import Finding, Severity, redact
from kubefoundry.checks.rules import secrets
from kubefoundry.checks.schemas import Schemas
from kubefoundry.core.facts import ClusterFacts

MAX_SCHEMA_ERRORS = 20  # per object; the rest are summed up in one finding


def check(
    manifests: Iterable[Mapping[str, Any] | Document],
    *,
    schemas: Schemas,
    facts: ClusterFacts | None = None,
    ignore: Collection[str] = (),
    catalogs: Catalogs | None = None,
) -> list[Finding]:
    """Every finding in ``manifests`` (plain dicts, e.g. rendered, or read Documents).

    Errors first, then warnings, then infos; within each, in file and document order.
    """
    documents = tuple(as_documents(manifests))
    ignored = rules.resolve(ignore)
    ctx = Context(
        documents=documents, schemas=schemas, catalogs=catalogs or Catalogs.load(), facts=facts
    )
    findings: list[Finding] = []
    for doc in documents:
        shape = list(_shape(doc))
        findings += shape
        if shape:
            continue
        findings += _schema(doc, schemas)
        for rule in rules.RULES:
            if rule.id not in ignored:
                findings += rule.check(doc, ctx)
    findings = [f for f in findings if f.rule not in ignored]
    hidden = [v for doc in documents if doc.is_object for v in secrets.secret_values(doc)]
    # Findings are already in document order, and the sort is stable.
    return sorted(redact(findings, hidden), key=lambda f: f.severity.rank)


def as_documents(manifests: Iterable[Mapping[str, Any] | Document]) -> Iterator[Document]:
    for index, item in enumerate(manifests, start=1):
        yield (
            item
            if isinstance(item, Document)
            else Document(obj=item, source="<rendered>", index=index)
        )


def _shape(doc: Document) -> Iterator[Finding]:
    if not doc.is_object:
        what = type(doc.obj).__name__
        yield doc.finding(
            rules.NOT_A_MANIFEST,
            Severity.ERROR,
            message=f"Document {doc.index} is a {what}, not a Kubernetes object.",
            fix="Each YAML document must be one mapping with apiVersion, kind and metadata; "
            "separate objects with '---'.",
        )
    elif not doc.kind or not doc.api_version:
        missing = " and ".join(
            f for f, v in (("apiVersion", doc.api_version), ("kind", doc.kind)) if not v
        )
        yield doc.finding(
            rules.NOT_A_MANIFEST,
            Severity.ERROR,
            message=f"Document {doc.index} has no {missing}: Kubernetes cannot tell what it is.",
            fix=f"Add {missing} at the top of the document (e.g. apiVersion: apps/v1, "
            "kind: Deployment).",
        )


def _schema(doc: Document, schemas: Schemas) -> list[Finding]:
    errors = schemas.validate(doc.obj)
    kind, api = doc.kind, doc.api_version
    if errors is None:
        served = [v.version for v in schemas.crd_versions(api, kind) if v.served]
        if served:
            group = doc.group
            return [
                doc.finding(
                    rules.SCHEMA,
                    Severity.ERROR,
                    message=f"{group} has no version {api.rpartition('/')[2]} of {kind}; "
                    f"its CRD serves {', '.join(served)}: the API server rejects the object.",
                    fix=f"Use apiVersion {group}/{served[-1]} (or another served version).",
                    path="apiVersion",
                )
            ]
        return [
            doc.finding(
                rules.NOT_VALIDATED,
                Severity.INFO,
                message=f"No schema is known for {api} {kind}; it was not validated.",
                fix="Pass its CustomResourceDefinition with --crds DIR (or KUBEFOUNDRY_CRDS) "
                "to validate it.",
            )
        ]
    out = [
        doc.finding(
            rules.SCHEMA,
            Severity.ERROR,
            message=e.message,
            fix=_schema_fix(kind, e.path, e.message),
            path=e.path,
        )
        for e in errors[:MAX_SCHEMA_ERRORS]
    ]
    if len(errors) > MAX_SCHEMA_ERRORS:
        out.append(
            doc.finding(
                rules.SCHEMA,
                Severity.ERROR,
                message=f"… and {len(errors) - MAX_SCHEMA_ERRORS} more schema errors.",
                fix="Fix the errors above and check again.",
            )
        )
    return out


def _schema_fix(kind: str, path: str, message: str) -> str:
    field = ".".join(p.split("[")[0] for p in path.split(".") if p)
    explain = f"kubectl explain {kind.lower()}{'.' + field if field else ''}"
    if message.startswith("unknown field"):
        return f"Remove the field or correct its spelling; {explain} lists the valid ones."
    return f"Change the value to what the schema allows; see {explain}."
