"""The settings page: the Hugging Face token (into a Secret) and on-prem GPU prices.

The same use cases as ``PUT /api/v1/settings/...`` (``deploy/settings``), as forms. The token
field is write-only: the page never shows a token, not even the one just typed when the form
is refused (the refusal names the field, never its value); what it shows is whether the
Secret exists and where. Prices are $ per GPU-hour by GPU; later plans from this server price
those GPUs with them where a spec gives none.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from kubefoundry.core.errors import KubeFoundryError
from kubefoundry.core.spec import SpecError


def router(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

    def page(
        request: Request,
        code: int = 200,
        *,
        problems: dict[str, str] | None = None,
        refused: KubeFoundryError | None = None,
        namespace: str = "",
        prices_form: dict[str, str] | None = None,
    ) -> HTMLResponse:
        from kubefoundry.catalog import gpus

        services = request.app.state.services
        token: dict[str, Any] | None = None
        cluster_problem: KubeFoundryError | None = None
        stored: Any = None
        try:
            stored = services.settings_store(request, writer=False).load()
        except KubeFoundryError as exc:
            cluster_problem = exc
        try:  # without a cluster, the connection says so (and how to get one)
            from kubefoundry.deploy import settings

            conn = services.connection(request)
            token = settings.token_status(conn, namespace=namespace or conn.namespace)
        except KubeFoundryError as exc:
            cluster_problem = cluster_problem or exc
        prices = stored.gpu_prices if stored is not None else {}
        return templates.TemplateResponse(
            request,
            "settings.html",
            {
                "token": token,
                "stored": stored,
                "prices": prices_form
                if prices_form is not None
                else {k: f"{v:g}" for k, v in prices.items()},
                "gpus": [g.id for g in gpus.load().all()],
                "problems": problems or {},
                "refused": refused,
                "cluster_problem": cluster_problem,
                "saved": request.query_params.get("saved", "")[:20],
                "connection": services.panel(request),
            },
            status_code=code,
        )

    @router.get("/settings")
    def settings_page(request: Request, namespace: str = "") -> HTMLResponse:
        return page(request, namespace=namespace[:63])

    @router.post("/settings/hf-token")
    async def put_token(request: Request) -> Any:
        from starlette.concurrency import run_in_threadpool

        from kubefoundry.deploy import settings

        posted = await request.form()
        token = str(posted.get("token", "")).strip()
        namespace = str(posted.get("namespace", "")).strip()[:63]
        secret = str(posted.get("secret", "")).strip()[:253] or None

        def put() -> dict[str, str]:
            conn = request.app.state.services.connection(request)
            return settings.put_token(
                conn, token=token, namespace=namespace or conn.namespace, secret=secret
            )

        try:
            done = await run_in_threadpool(put)
        except SpecError as exc:
            problems = {p.field or "token": p.message for p in exc.problems}
            return page(request, 422, problems=problems, namespace=namespace)
        except KubeFoundryError as exc:
            return page(request, _status(exc), refused=exc, namespace=namespace)
        query = urllib.parse.urlencode({"saved": "token", "namespace": done["namespace"]})
        return RedirectResponse(f"/settings?{query}", status_code=303)

    @router.post("/settings/gpu-prices")
    async def put_prices(request: Request) -> Any:
        from kubefoundry.deploy import settings

        posted = await request.form()
        given = {
            k.removeprefix("price-"): str(v).strip()[:20]
            for k, v in posted.items()
            if k.startswith("price-") and str(v).strip()
        }
        parsed: dict[str, Any] = {}
        problems: dict[str, str] = {}
        for gpu, text in given.items():
            try:
                parsed[gpu] = float(text)
            except ValueError:
                problems[gpu] = "A price is a number of $ per GPU-hour, e.g. 0.55."
        checked: dict[str, float] = {}
        try:
            checked = settings.validate_prices(parsed)
        except SpecError as exc:
            problems |= {p.field: p.message for p in exc.problems}
        if problems:
            return page(request, 422, problems=problems, prices_form=given)
        try:
            request.app.state.services.settings_store(request, writer=True).save_prices(checked)
        except KubeFoundryError as exc:
            return page(request, _status(exc), refused=exc, prices_form=given)
        return RedirectResponse("/settings?saved=prices", status_code=303)

    return router


def _status(exc: KubeFoundryError) -> int:
    from kubefoundry.cluster.errors import ForbiddenError
    from kubefoundry.core.errors import RetryableError

    if isinstance(exc, ForbiddenError):
        return 403
    return 503 if isinstance(exc, RetryableError) else 400
