"""What the catalog shows about a model or a GPU, as plain data: the CLI's tables and JSON and
the REST API's responses are built from these rows, so the surfaces say the same thing.

``catalog_row`` adds what the web catalog and the API's model rows show beyond the CLI's
table: the GPUs one replica fits on (``deploy/fitting``, worked out once per process).
``matching`` is the one catalog search the page and the API share; a filter value the
catalog does not hold is a ``SpecError`` naming the field and the values it holds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from kubefoundry.catalog import gpus as gpu_catalog
from kubefoundry.catalog import models
from kubefoundry.core.spec import Problem, SpecError
from kubefoundry.deploy import fitting
from kubefoundry.planning import weights

# The filters that take one of the values the catalog holds (each is its rows' key).
CHOICES = ("task", "license")


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


def catalog_row(e: models.ModelEntry) -> dict[str, Any]:
    """``model_row`` with the GPU types one replica fits on, fewest GPUs of each on a node."""
    return {**model_row(e), "fits_on": [f.row() for f in fitting.fits_on(e)]}


def choices(rows: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """The values each ``CHOICES`` filter may take: those the rows hold, sorted."""
    return {key: sorted({str(r[key]) for r in rows if r.get(key)}) for key in CHOICES}


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
    task: str | None = None,
    license: str | None = None,
    pools: Sequence[fitting.Pool] | None = None,
) -> list[dict[str, Any]]:
    """The model rows a catalog search keeps: ``q`` in the id, name or an alias; the family;
    gated or not; at most ``max_params_b`` billion parameters; the task and the licence,
    exactly (``SpecError`` for a value no row holds, naming the ones they do); with
    ``pools``, the models one of them fits (``catalog_row``'s ``fits_on``)."""
    _check_choices(rows, task=task, license=license)
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
    if task:
        rows = [r for r in rows if r["task"] == task]
    if license:
        rows = [r for r in rows if r["license"] == license]
    if pools is not None:
        rows = [r for r in rows if fitting.fits_pools(r["fits_on"], pools)]
    return rows


def _check_choices(rows: Sequence[dict[str, Any]], **given: str | None) -> None:
    allowed = choices(rows)
    problems = [
        Problem(key, value, "not one the catalog holds; one of: " + ", ".join(allowed[key]))
        for key, value in given.items()
        if value and value not in allowed[key]
    ]
    if problems:
        raise SpecError(problems, where="catalog search")
