"""Update and scale a deployment (``/api/v1``): the diff first, then, when asked, the apply.

``PATCH /deployments/{namespace}/{name}`` takes the spec fields to change (a JSON merge
patch of the ``DeploymentSpec``: a value replaces, ``null`` returns a field to its default,
``workload`` and ``serving`` merge field by field) and answers with the diff
(``deploy/updating``). ``dry_run`` defaults to true, so a client sees the diff before anything
changes and sends the same body again with ``dry_run=false`` to apply it. ``POST
.../scale`` is the same for ``{"replicas": N}``. Both plan with the server's on-prem GPU
prices (``api/settings.stored_prices``) where the spec gives none.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from kubefoundry.api import deps, settings
from kubefoundry.api.errors import RESPONSES as ERRORS
from kubefoundry.core.spec import DeploymentSpec

DryRun = Annotated[
    bool,
    Query(description="true (the default): only show what would change; false: apply it."),
]


def _partial(model: type[BaseModel], name: str) -> type[BaseModel]:
    """``model`` with every field optional and defaulting to ``None`` (nested sections too),
    keeping each field's type, bounds and description for OpenAPI."""
    fields: dict[str, Any] = {}
    for key, info in model.model_fields.items():
        annotation: Any = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            annotation = _partial(annotation, f"{annotation.__name__}Changes")
        copied = FieldInfo.merge_field_infos(info, default=None)
        copied.default_factory = None
        fields[key] = (annotation | None, copied)
    config = ConfigDict(extra="forbid")
    return create_model(name, __config__=config, __doc__=model.__doc__, **fields)


SpecChanges = _partial(DeploymentSpec, "SpecChanges")
SpecChanges.__doc__ = (
    "The deployment spec fields to change; the others keep their value. null returns a field "
    "to its default; name and namespace cannot change."
)


class ScaleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    replicas: int = Field(ge=1, le=100, description="Replicas (an autoscaler's floor).")


class UpdateBody(BaseModel):
    """The diff (and, without dry_run, what was applied and deleted)."""

    name: str
    namespace: str
    dry_run: bool
    spec_before: dict[str, Any]
    spec_after: dict[str, Any]
    plan_before: dict[str, Any] | None = Field(description="The live root's plan summary.")
    plan_after: dict[str, Any]
    changes: list[str] = Field(description="The plan's changes in words.")
    notes: list[str]
    diff: dict[str, Any] = Field(
        description="added and changed: {kind, name, diff (unified; YAML when added)}; "
        "removed and unchanged: Kind/name."
    )
    applied: list[str]
    deleted: list[str]


def router() -> APIRouter:
    router = APIRouter()

    @router.patch(
        "/deployments/{namespace}/{name}",
        response_model=UpdateBody,
        responses=ERRORS,
    )
    def update_deployment(
        namespace: str,
        name: str,
        changes: SpecChanges,  # type: ignore[valid-type]
        request: Request,
        conn: deps.Cluster,
        dry_run: DryRun = True,
    ) -> dict[str, Any]:
        """Change any spec field of a running deployment (tier, replicas, context_length,
        gpu, runtime, workload, serving…): re-planned and re-rendered like a deploy, compared
        with the live objects. Default dry_run=true: nothing changes until you send the same
        body with dry_run=false."""
        given = cast(BaseModel, changes).model_dump(exclude_unset=True)
        return _update(request, conn, name=name, namespace=namespace, changes=given, dry=dry_run)

    @router.post(
        "/deployments/{namespace}/{name}/scale",
        response_model=UpdateBody,
        responses=ERRORS,
    )
    def scale_deployment(
        namespace: str,
        name: str,
        body: ScaleBody,
        request: Request,
        conn: deps.Cluster,
        dry_run: Annotated[
            bool, Query(description="true: only show what would change. Default: apply.")
        ] = False,
    ) -> dict[str, Any]:
        """Set the replicas (for an autoscaled deployment: the plan's replicas, from which the
        scaler's range is sized; the scaler keeps the running count). Applies at once unless
        dry_run=true; the answer has the diff either way."""
        changes = {"replicas": body.replicas}
        return _update(request, conn, name=name, namespace=namespace, changes=changes, dry=dry_run)

    return router


def _update(
    request: Request, conn: Any, *, name: str, namespace: str, changes: dict[str, Any], dry: bool
) -> dict[str, Any]:
    from kubefoundry.deploy import updating

    update = updating.plan_update(
        conn,
        name=name,
        namespace=namespace,
        changes=changes,
        prices=settings.stored_prices(request),
    )
    applied: list[str] = []
    deleted: list[str] = []
    if not dry:
        done = updating.apply_update(conn, update)
        applied = [str(a) for a in done.applied]
        deleted = done.deleted
    return update.to_dict() | {"dry_run": dry, "applied": applied, "deleted": deleted}
