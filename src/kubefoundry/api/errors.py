"""Domain errors to HTTP, in one place: every 4xx body is an ``ErrorBody``.

``SpecError`` and FastAPI's own body validation → 422 with each field at fault (dotted spec
path, the value given); ``NotFoundError`` → 404 with close names; ``DoesNotFitError`` → 422
with the fixes that plan; other ``InvalidInputError``/``PermanentError`` → 400; a cluster
that is busy (``RetryableError``) → 503 with Retry-After. Anything else is a bug: 500 with no
detail (the server log has the traceback).

A domain error's ``remedies`` (``core.errors.Remedy``) are worded here, for an API client:
``REMEDIES`` says each as a spec field or a route; the body carries them by code and puts
them before the error's own hint.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from kubefoundry.api.models import ErrorBody, FieldProblem, RemedyBody
from kubefoundry.cluster.errors import ForbiddenError
from kubefoundry.core.errors import (
    DoesNotFitError,
    KubeFoundryError,
    NotFoundError,
    Remedy,
    RetryableError,
)
from kubefoundry.core.spec import SpecError

# The error answers every route may give, for OpenAPI.
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Input that cannot be used."},
    404: {"model": ErrorBody, "description": "A name that is not known."},
    422: {"model": ErrorBody, "description": "A spec that does not validate or does not fit."},
}


# How the API words each fix that errors leave to the surface: it takes no files, so a model
# is a catalog name or a Hugging Face id the server itself fetches.
REMEDIES: dict[Remedy, str] = {
    Remedy.MODEL_CONFIG: "The API takes no config.json: use a catalog model (GET /api/v1/models) "
    "or a Hugging Face id this server can fetch (it needs to reach the Hub, and HF_TOKEN in its "
    "environment for gated or private models).",
    Remedy.HF_TOKEN_SECRET: "Set `hf_token_secret` to the name of the Secret that holds the "
    "Hugging Face token; PUT /api/v1/settings/hf-token creates one.",
    Remedy.ALL_NAMESPACES: "GET /api/v1/deployments?all_namespaces=true lists the deployments "
    "of every namespace you may read.",
    Remedy.OVERWRITE: "The API writes no files: POST /api/v1/render answers with the objects.",
}


class UnauthorizedError(Exception):
    """No bearer token, or the wrong one."""


def _answer(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _safe(value: Any) -> Any:
    """A value as JSON can carry it (what pydantic echoes back may be anything)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)[:200]


def _said(exc: KubeFoundryError, **fields: Any) -> ErrorBody:
    """The body for a domain error: its message, each remedy as this API does it, then the
    error's own hint."""
    fixes = [REMEDIES[r] for r in exc.remedies] + ([exc.hint] if exc.hint else [])
    return ErrorBody(
        message=exc.message,
        hint=" ".join(fixes) or None,
        remedies=[RemedyBody(code=r.value, fix=REMEDIES[r]) for r in exc.remedies],
        **fields,
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def body(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            where = loc[1:] if loc[:1] == ["body"] else loc
            fields.append(
                FieldProblem(
                    field=".".join(where), value=_safe(err.get("input")), message=err["msg"]
                )
            )
        names = ", ".join(f.field or "(body)" for f in fields)
        return _answer(
            422,
            ErrorBody(
                error="invalid",
                message=f"The request does not validate: {names}.",
                hint="Fix the fields listed; the schema is at /api/v1/spec/schema.",
                fields=fields,
            ),
        )

    @app.exception_handler(UnauthorizedError)
    async def unauthorized(_: Request, exc: UnauthorizedError) -> JSONResponse:
        return _answer(
            401,
            ErrorBody(
                error="unauthorized",
                message="This server wants a bearer token.",
                hint="Send Authorization: Bearer <the token `kubefoundry serve` printed>.",
            ),
            {"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(KubeFoundryError)
    async def domain(_: Request, exc: KubeFoundryError) -> JSONResponse:
        if isinstance(exc, SpecError):
            fields = [
                FieldProblem(field=p.field, value=_safe(p.value), message=p.message)
                for p in exc.problems
            ]
            return _answer(422, ErrorBody(error="invalid", message=exc.message, fields=fields))
        if isinstance(exc, NotFoundError):
            return _answer(404, _said(exc, error="not_found", suggestions=list(exc.suggestions)))
        if isinstance(exc, DoesNotFitError):
            return _answer(422, _said(exc, error="does_not_fit", fixes=list(exc.fixes)))
        if isinstance(exc, ForbiddenError):  # the user's RBAC (impersonated) refused
            return _answer(403, _said(exc, error="forbidden"))
        if isinstance(exc, RetryableError):
            return _answer(
                503,
                _said(exc, error="unavailable"),
                {"Retry-After": str(max(1, math.ceil(exc.delay_s)))},
            )
        return _answer(400, _said(exc, error="invalid"))
