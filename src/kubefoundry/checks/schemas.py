"""Validate objects against the real schemas of their kinds, never against one we wrote.

- Kubernetes core kinds (Deployment, Service, ConfigMap, PVC, PDB, …): the OpenAPI schemas
  published for the Kubernetes API (``kubernetes-validate``'s strict JSON Schema copies).
- Every custom resource: the ``openAPIV3Schema`` of the served version in the real
  CustomResourceDefinition files: the copies shipped in this package (``data/crds``,
  byte-for-byte from ``shared/crds``; its ``INDEX.md`` names each one's release), or
  ``--crds DIR`` / ``KUBEFOUNDRY_CRDS`` instead (the live cluster's CRDs once ``cluster/``
  reads them).

CRD schemas are made strict the way ``kubectl apply --validate=strict`` is: an object with
declared properties rejects unknown fields unless it says ``x-kubernetes-preserve-unknown-
fields``. Metadata is checked against the core ObjectMeta schema plus the API server's name
and label rules. CEL rules (``x-kubernetes-validations``) are not evaluated here; a real API
server's dry-run evaluates them (``cluster/``).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema
import yaml

from kubefoundry.core import files

KUBERNETES_VERSION = "1.34.0"  # the API version core kinds are validated against
CRDS_ENV = "KUBEFOUNDRY_CRDS"

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


@dataclasses.dataclass(frozen=True)
class SchemaError:
    path: str  # where in the object, e.g. "spec.template.spec.containers[0].args"
    message: str


@dataclasses.dataclass(frozen=True)
class CrdVersion:
    group: str
    kind: str
    version: str
    served: bool
    deprecated: bool
    storage: bool
    schema: Mapping[str, Any]
    source: str  # the file it came from


class Schemas:
    """The schemas of every kind we know: core kinds plus the CRDs found in ``crd_files``.

    CRD files are parsed lazily, by API group: ``<plural>.<group>.yaml`` files (the
    controller-gen naming) are read when their group is first asked for; files named any
    other way are read the first time a group is not found by name. A file is a ``Path`` or
    a package resource (any ``Traversable``), so an installed wheel reads its own copies.
    """

    def __init__(self, crd_files: Iterable[Traversable], *, kubernetes_version: str) -> None:
        self._unread = list(crd_files)
        self._crds: dict[tuple[str, str, str], CrdVersion] = {}
        self.kubernetes_version = kubernetes_version

    @classmethod
    def load(
        cls, crd_dirs: Sequence[Traversable] = (), *, kubernetes_version: str = KUBERNETES_VERSION
    ) -> Schemas:
        dirs = list(crd_dirs) or default_crd_dirs()
        files = [f for d in dirs for f in yaml_files(d)]
        return cls(files, kubernetes_version=kubernetes_version)

    def _read_group(self, group: str) -> None:
        named = [f for f in self._unread if _group_of(f) == group]
        if not named and not any(g == group for g, _, _ in self._crds):
            # Only files that do not say their group in their name may still hold it.
            named = [f for f in self._unread if _group_of(f) is None]
        for f in named:
            self._unread.remove(f)
            for v in _read_crd(f):
                self._crds[(v.group, v.version, v.kind)] = v

    def crd(self, api_version: str, kind: str) -> CrdVersion | None:
        group, _, version = api_version.rpartition("/")
        if not group or (not group.count(".") and group in _CORE_GROUPS):
            return None
        self._read_group(group)
        return self._crds.get((group, version, kind))

    def crd_versions(self, api_version: str, kind: str) -> list[CrdVersion]:
        group = api_version.rpartition("/")[0]
        self._read_group(group)
        return [c for (g, _, k), c in self._crds.items() if g == group and k == kind]

    def is_core(self, api_version: str, kind: str) -> bool:
        return _core_schema_file(self.kubernetes_version, api_version, kind) is not None

    def validate(self, obj: Mapping[str, Any]) -> list[SchemaError] | None:
        """Every schema error in ``obj``; None when no schema for its kind is known."""
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        if not api_version or not kind:
            return [SchemaError("", "apiVersion and kind are required")]
        if self.is_core(api_version, kind):
            validator = _core_validator(self.kubernetes_version, api_version, kind)
            errors = _errors(validator, obj, skip_metadata=False)
        else:
            crd = self.crd(api_version, kind)
            if crd is None:
                return None
            errors = _errors(_strict_validator(_freeze(crd.schema)), obj, skip_metadata=True)
        return errors + _metadata_errors(obj.get("metadata"), self.kubernetes_version)


_CORE_GROUPS = {"apps", "batch", "policy", "autoscaling"}


def _group_of(path: Traversable) -> str | None:
    """The API group a ``<plural>.<group>.yaml`` file name states, or None for other names."""
    parts = path.name.split(".")
    if len(parts) < 4 or parts[-1] not in ("yaml", "yml"):
        return None
    return ".".join(parts[1:-1])


def default_crd_dirs() -> list[Traversable]:
    """``$KUBEFOUNDRY_CRDS`` (``:``-separated folders), else the CRDs shipped in the package."""
    if os.environ.get(CRDS_ENV):
        return [Path(p) for p in os.environ[CRDS_ENV].split(os.pathsep) if p]
    return [packaged_crds()]


def packaged_crds() -> Traversable:
    """The CRDs shipped as package data, one per ``<plural>.<group>.yaml`` file."""
    return importlib.resources.files("kubefoundry.checks").joinpath("data/crds")


def yaml_files(folder: Traversable) -> Iterator[Traversable]:
    """Every ``*.yaml`` / ``*.yml`` file under ``folder``, depth first, in name order (none
    when ``folder`` is missing)."""
    if not folder.is_dir():
        return
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            yield from yaml_files(entry)
        elif entry.name.endswith((".yaml", ".yml")):
            yield entry


def _read_crd(path: Traversable) -> list[CrdVersion]:
    out = []
    for doc in yaml.load_all(path.read_text("utf-8"), Loader=files.YAML_LOADER):
        if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        for v in spec.get("versions", []):
            schema = (v.get("schema") or {}).get("openAPIV3Schema") or {}
            out.append(
                CrdVersion(
                    group=spec["group"],
                    kind=spec["names"]["kind"],
                    version=v["name"],
                    served=bool(v.get("served", True)),
                    deprecated=bool(v.get("deprecated", False)),
                    storage=bool(v.get("storage", False)),
                    schema=schema,
                    source=str(path),
                )
            )
    return out


# ---- strict CRD schemas -------------------------------------------------------------------


def _strictify(node: Any) -> Any:
    if isinstance(node, list):
        return [_strictify(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strictify(v) for k, v in node.items() if not k.startswith("x-kubernetes-valid")}
    if node.get("nullable") and isinstance(node.get("type"), str):
        out["type"] = [node["type"], "null"]
    preserve = node.get("x-kubernetes-preserve-unknown-fields")
    if node.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        for field in ("apiVersion", "kind"):
            props.setdefault(field, {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    if "properties" in out and not preserve and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


class _Frozen:
    """A hashable handle on a schema mapping, so validators can be cached per schema."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema

    def __hash__(self) -> int:
        return id(self.schema)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Frozen) and other.schema is self.schema


def _freeze(schema: Mapping[str, Any]) -> _Frozen:
    return _Frozen(schema)


@functools.lru_cache(maxsize=256)
def _strict_validator(frozen: _Frozen) -> jsonschema.protocols.Validator:
    schema = _strictify(dict(frozen.schema))
    return jsonschema.Draft7Validator(schema)


# ---- core kinds -----------------------------------------------------------------------------


def _schema_root(kubernetes_version: str) -> Any:
    return importlib.resources.files("kubernetes_validate").joinpath(
        f"kubernetes-json-schema/v{kubernetes_version}-local-strict"
    )


def _core_schema_file(kubernetes_version: str, api_version: str, kind: str) -> Any | None:
    # apps/v1 -> apps-v1; rbac.authorization.k8s.io/v1 -> rbac-v1; v1 -> v1
    group, _, version = api_version.rpartition("/")
    prefix = f"{group.split('.')[0]}-" if group else ""
    if group and "." in group and not group.endswith(".k8s.io"):
        return None  # a custom resource group, never a core kind
    ref = _schema_root(kubernetes_version).joinpath(f"{kind.lower()}-{prefix}{version}.json")
    return ref if ref.is_file() else None


@functools.lru_cache(maxsize=1)
def _definitions(kubernetes_version: str) -> referencing.Registry[Any]:
    root = _schema_root(kubernetes_version)
    defs = json.loads(root.joinpath("_definitions.json").read_text())
    resource = referencing.Resource.from_contents(
        defs, default_specification=referencing.jsonschema.DRAFT202012
    )
    return resource @ referencing.Registry()


@functools.lru_cache(maxsize=64)
def _core_validator(
    kubernetes_version: str, api_version: str, kind: str
) -> jsonschema.protocols.Validator:
    ref = _core_schema_file(kubernetes_version, api_version, kind)
    assert ref is not None
    schema = json.loads(ref.read_text())
    return jsonschema.Draft202012Validator(schema, registry=_definitions(kubernetes_version))


@functools.lru_cache(maxsize=1)
def _object_meta_validator(kubernetes_version: str) -> jsonschema.protocols.Validator:
    schema = json.loads(
        _schema_root(kubernetes_version).joinpath("objectmeta-meta-v1.json").read_text()
    )
    return jsonschema.Draft202012Validator(schema, registry=_definitions(kubernetes_version))


# ---- errors ---------------------------------------------------------------------------------


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _errors(
    validator: jsonschema.protocols.Validator, obj: Mapping[str, Any], *, skip_metadata: bool
) -> list[SchemaError]:
    errors = []
    for err in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        if skip_metadata and err.absolute_path and err.absolute_path[0] == "metadata":
            continue
        errors.append(SchemaError(_path(err.absolute_path), _message(err)))
    return errors


def _message(err: jsonschema.ValidationError) -> str:
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        schema = err.schema if isinstance(err.schema, Mapping) else {}
        allowed = set((schema.get("properties") or {}).keys())
        extra = sorted(set(err.instance) - allowed)
        return f"unknown field(s) {', '.join(map(repr, extra))}"
    text = err.message
    return text if len(text) <= 300 else text[:297] + "..."


def _metadata_errors(metadata: Any, kubernetes_version: str) -> list[SchemaError]:
    if not isinstance(metadata, dict):
        return [SchemaError("metadata", "metadata is required")]
    errors = [
        SchemaError(_path(["metadata", *e.absolute_path]), _message(e))
        for e in _object_meta_validator(kubernetes_version).iter_errors(metadata)
    ]
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        errors.append(SchemaError("metadata.name", "a name is required"))
    elif len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        errors.append(
            SchemaError(
                "metadata.name",
                f"{name!r} is not a valid name: lower-case letters, digits, '-' and '.', "
                "starting and ending with a letter or digit, at most 253 characters",
            )
        )
    for key, value in (metadata.get("labels") or {}).items():
        errors.extend(_label_errors(str(key), value))
    return errors


def _label_errors(key: str, value: Any) -> list[SchemaError]:
    errors = []
    prefix, _, name = key.rpartition("/")
    if len(name) > 63 or not _LABEL_NAME.match(name) or (prefix and len(prefix) > 253):
        errors.append(SchemaError(f"metadata.labels.{key}", "not a valid label key"))
    if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
        errors.append(
            SchemaError(
                f"metadata.labels.{key}",
                f"label value {value!r} is not valid: at most 63 characters of letters, "
                "digits, '-', '_' and '.', starting and ending with a letter or digit",
            )
        )
    return errors
