"""What the catalog shows about a model or a GPU, as plain data: the CLI's tables and JSON and
the REST API's responses are built from these rows, so the surfaces say the same thing."""

from __future__ import annotations

import dataclasses
from typing import Any

from kubefoundry.catalog import gpus as gpu_catalog
from kubefoundry.catalog import models
from kubefoundry.planning import weights


def model_row(e: models.ModelEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "name": e.name,
        "family": e.family,
        "params_b": (e.params or weights.parameter_count(e.arch)) / 1e9,
        "attention": e.arch.attention_family,
        "native_dtype": e.native_dtype,
        "quantization": e.quantization,
        "context_length": e.context_length,
        "gated": e.gated,
        "license": e.license,
        "task": e.task,
        "engines": list(e.engines),
        "aliases": list(e.aliases),
    }


def gpu_row(g: gpu_catalog.GPU) -> dict[str, Any]:
    skip = {"node_labels", "label_variants", "platform_info"}
    row = {f.name: getattr(g, f.name) for f in dataclasses.fields(g) if f.name not in skip}
    row["node_labels"] = {k: dict(v) for k, v in g.node_labels.items()}
    return row


def matching(
    rows: list[dict[str, Any]],
    *,
    q: str | None = None,
    family: str | None = None,
    gated: bool | None = None,
    max_params_b: float | None = None,
) -> list[dict[str, Any]]:
    """The model rows a catalog search keeps: ``q`` in the id, name or an alias; the family;
    gated or not; at most ``max_params_b`` billion parameters."""
    if q:
        needle = q.lower()
        rows = [
            r
            for r in rows
            if needle in r["id"].lower()
            or needle in r["name"].lower()
            or any(needle in a for a in r["aliases"])
        ]
    if family:
        rows = [r for r in rows if r["family"].lower() == family.lower()]
    if gated is not None:
        rows = [r for r in rows if bool(r["gated"]) == gated]
    if max_params_b is not None:
        rows = [r for r in rows if r["params_b"] <= max_params_b]
    return rows
