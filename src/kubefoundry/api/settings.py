"""Settings routes (``/api/v1/settings``): the Hugging Face token and on-prem GPU prices.

``PUT /settings/hf-token`` puts the token into a Secret in a namespace (``deploy/settings``)
and answers with the Secret's name and what was done, never the token. Its body is read by
hand, not by a pydantic parameter: FastAPI's validation errors echo the input they reject, and
a misspelt key would send the token back in the 422. ``GET /settings`` says where the token
Secret exists (never its value) and the stored prices; ``PUT /settings/gpu-prices`` replaces
them. With a cluster they live in its ConfigMap (written as the request's user, so RBAC says
who may change them), without one in the user's config folder.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from kubefoundry.api import deps
from kubefoundry.api.errors import RESPONSES as ERRORS
from kubefoundry.core.errors import KubeFoundryError
from kubefoundry.core.spec import Problem, SpecError

log = logging.getLogger(__name__)


class TokenBody(BaseModel):
    """The Hugging Face token to put into a Secret (the answer never carries it)."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(description="The Hugging Face token (hf_…); write-only.")
    namespace: str | None = Field(None, description="Default: the server's namespace.")
    secret: str | None = Field(None, description="Secret name; default kubefoundry-hf-token.")


class TokenSet(BaseModel):
    secret: str
    namespace: str
    action: str = Field(description="created or updated.")


class PricesBody(BaseModel):
    gpu_prices: dict[str, float] = Field(description="$ per GPU-hour by GPU name.")
    where: str = Field(description="Where they are stored.")


_TOKEN_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": TokenBody.model_json_schema()}},
    }
}


def router() -> APIRouter:
    router = APIRouter()

    @router.get("/settings", responses=ERRORS)
    def get_settings(
        request: Request,
        namespace: Annotated[str | None, Query(max_length=63)] = None,
    ) -> dict[str, Any]:
        """The on-prem GPU prices and where they are stored; whether the token Secret exists
        in ``namespace`` (default: the server's) and which namespaces have it."""
        from kubefoundry.deploy import settings

        stored = store_for(request, writer=False).load()
        token: dict[str, Any] | None = None
        if request.app.state.cluster.target is not None:
            conn = deps.connection(request)
            token = settings.token_status(conn, namespace=namespace or conn.namespace)
        return {
            "gpu_prices": stored.gpu_prices,
            "gpu_prices_stored_in": stored.where,
            "hf_token": token,
        }

    @router.put(
        "/settings/hf-token",
        response_model=TokenSet,
        responses=ERRORS,
        openapi_extra=_TOKEN_SCHEMA,
    )
    async def put_token(request: Request) -> dict[str, str]:
        """Create or update the Secret holding the Hugging Face token in a namespace; the
        pods read it under the keys ``token`` and ``HF_TOKEN``. Name it in a spec with
        ``hf_token_secret``. The answer names the Secret, never the token."""
        body = _token_body(await request.body())
        return await _in_thread(request, body)

    @router.put("/settings/gpu-prices", response_model=PricesBody, responses=ERRORS)
    def put_prices(
        request: Request,
        prices: Annotated[
            dict[str, Any],
            Body(
                description="$ per GPU-hour by GPU name (the GPU catalog's names), e.g. "
                '{"L4": 0.55, "H100": 2.1}; replaces the stored prices ({} clears them).',
                examples=[{"L4": 0.55, "H100": 2.1}],
            ),
        ],
    ) -> dict[str, Any]:
        """Store your own GPU prices; later plans from this server price those GPUs with
        them where the spec gives no usd_per_gpu_hour (the plan's GPU decision says so)."""
        from kubefoundry.deploy import settings

        checked = settings.validate_prices(prices)
        stored = store_for(request, writer=True).save_prices(checked)
        return {"gpu_prices": stored.gpu_prices, "where": stored.where}

    return router


def _token_body(raw: bytes) -> TokenBody:
    """The body as a ``TokenBody``; problems named by field, the token's value never shown."""
    from pydantic import ValidationError

    try:
        data = json.loads(raw or b"null")
    except ValueError:
        raise SpecError(
            [Problem("", "<not shown>", "the body is not JSON")], where="token setting"
        ) from None
    try:
        return TokenBody.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(".".join(str(p) for p in e["loc"]), "<not shown>", e["msg"])
            for e in exc.errors()
        ]
        raise SpecError(problems, where="token setting") from None


async def _in_thread(request: Request, body: TokenBody) -> dict[str, str]:
    from starlette.concurrency import run_in_threadpool

    from kubefoundry.deploy import settings

    def put() -> dict[str, str]:
        conn = deps.connection(request)
        return settings.put_token(
            conn,
            token=body.token,
            namespace=body.namespace or conn.namespace,
            secret=body.secret,
        )

    return await run_in_threadpool(put)


def store_for(request: Request, *, writer: bool) -> Any:
    """The settings store of this server: its cluster's ConfigMap (written as the request's
    user, read with the server's own identity: every user plans with the same prices) or,
    with no cluster, the user's config folder (``app.state.settings_dir`` in tests)."""
    from kubefoundry.deploy import settings

    directory = getattr(request.app.state, "settings_dir", None)
    if request.app.state.cluster.target is None:
        return settings.store(None, directory=directory)
    own = deps.own_connection(request)
    conn = deps.connection(request) if writer else own
    return settings.ClusterStore(conn, own.namespace)


def stored_prices(request: Request) -> dict[str, float]:
    """The prices plans from this server use where the spec gives none; none when the
    cluster that holds them cannot be reached (a plan still works, at list prices)."""
    try:
        prices: dict[str, float] = store_for(request, writer=False).load().gpu_prices
    except KubeFoundryError as exc:  # unreachable, forbidden, or an unreadable document
        log.warning("GPU prices not read, planning without them: %s", exc.message)
        return {}
    return prices
