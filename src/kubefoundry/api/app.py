"""The REST API: the catalog, the planner and the renderer over HTTP (``kubefoundry serve``).

A thin shell over the same functions the CLI calls (``deploy/rendering``, ``deploy/views``,
the catalogs): a plan or render from the API is the one ``kubefoundry plan -f`` gives for the
same ``DeploymentSpec``. Its body *is* the spec, so ``/openapi.json`` publishes the spec's
schema. Every domain error becomes an HTTP answer in one place (``errors.py``); a 4xx body
says what was wrong and how to fix it, in the spec's field names.

Security: the server binds to 127.0.0.1 unless told otherwise; exposed, it wants a shared
token or each user's Kubernetes token (``cli/serve_cmd``), checked for every request with the
session cookie and CSRF rules in one middleware (``api/guarding``, ``api/auth``).
No response ever carries a secret's value: the spec names a Secret, never a token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

from kubefoundry import __version__
from kubefoundry.api import (
    auth,
    deployments,
    deps,
    errors,
    guarding,
    live,
    sandbox,
    services,
    settings,
    updates,
)
from kubefoundry.api.errors import RESPONSES as ERRORS
from kubefoundry.api.models import (
    CheckFinding,
    GpuRow,
    ModelRow,
    PlanResponse,
    RenderResponse,
    TierRow,
    WorkloadRow,
)
from kubefoundry.cluster.connecting import Target
from kubefoundry.core.spec import DeploymentSpec
from kubefoundry.web import pages

API = "/api/v1"


def create_app(
    *,
    token: str | None = None,
    cluster: Target | None = None,
    auth_mode: auth.Mode | str | None = None,
) -> FastAPI:
    """The application; with ``token``, every ``/api`` route and page wants it (a bearer
    token, or a session from ``/login``).

    ``cluster``: the kubeconfig (and context, namespace) the deployment routes act through,
    connected on first use; without one they answer 503 saying how to give one.
    ``auth_mode``: ``token`` when a token is given, else ``none``; ``kubernetes`` takes each
    user's own Kubernetes token and acts for them by impersonation (``api/auth.py``).
    """
    app = FastAPI(
        title="KubeFoundry",
        version=__version__,
        summary="Plan, render and deploy open LLMs on Kubernetes, every choice explained.",
    )
    errors.install(app)
    pages.install(app)  # the web pages: the same functions, as HTML
    # What the pages (which may not import the API) get from it: the user's connection,
    # the watch cache, the settings, the cluster panel.
    app.state.services = services.PageServices()
    app.state.cluster = deps.ClusterHolder(cluster)
    # How the pages (which may not import the API) reach the cluster as the request's user.
    app.state.auth = _guard(auth_mode, token=token, holder=app.state.cluster)
    app.add_middleware(guarding.Middleware, guard=app.state.auth)
    guard = deps.bearer(token)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(f"{API}/models", response_model=list[ModelRow], responses=ERRORS, dependencies=[guard])
    def list_models(
        request: Request,
        q: Annotated[str | None, Query(max_length=200, description="Text in id or name.")] = None,
        family: Annotated[str | None, Query(max_length=100)] = None,
        gated: bool | None = None,
        max_params_b: Annotated[float | None, Query(gt=0, le=10_000)] = None,
        task: Annotated[
            str | None, Query(max_length=100, description="Exactly, e.g. text-generation.")
        ] = None,
        license: Annotated[
            str | None, Query(max_length=100, description="Exactly, e.g. apache-2.0.")
        ] = None,
        fits_cluster: Annotated[
            bool,
            Query(
                description="Only models one replica of which fits a node of the cluster's "
                "GPU pools (503 when the server has no cluster)."
            ),
        ] = False,
    ) -> list[dict[str, Any]]:
        """The curated catalog, filtered; each model with the GPUs it fits on (``fits_on``:
        the fewest of each type on one node, at its own precision and an 8K context). An
        unknown task or licence is a 422 naming the values the catalog holds."""
        from kubefoundry.catalog import models
        from kubefoundry.deploy import discovering, fitting, views

        rows = [views.catalog_row(e) for e in models.ModelCatalog.load().all()]
        pools = None
        if fits_cluster:
            conn = deps.own_connection(request)  # 503 without a cluster
            pools = fitting.PoolCache.on(request.app.state).pools(
                conn, lambda: discovering.discover(conn)[0]
            )
        return views.matching(
            rows,
            q=q,
            family=family,
            gated=gated,
            max_params_b=max_params_b,
            task=task,
            license=license,
            pools=pools,
        )

    @app.get(
        f"{API}/models/{{name:path}}",
        response_model=ModelRow,
        responses=ERRORS,
        dependencies=[guard],
    )
    def get_model(name: str) -> dict[str, Any]:
        """One model: a curated one by name, alias or id, or any Hugging Face id (its
        config.json read from the Hub, as plan and render read it); 404 with close names."""
        from kubefoundry.deploy import rendering, views

        return views.catalog_row(rendering.model_entry(name))

    @app.get(f"{API}/gpus", response_model=list[GpuRow], dependencies=[guard])
    def list_gpus() -> list[dict[str, Any]]:
        """GPUs the planner knows: memory as CUDA reports it, bandwidth, TFLOPS."""
        from kubefoundry.catalog import gpus
        from kubefoundry.deploy import views

        return [views.gpu_row(g) for g in gpus.load().all()]

    @app.get(f"{API}/tiers", response_model=list[TierRow], dependencies=[guard])
    def list_tiers() -> list[dict[str, Any]]:
        """Good / Better / Best: the intent each tier stands for and its policy."""
        from kubefoundry.planning import tiers

        return [TierRow.of(t).model_dump() for t in tiers.all_tiers()]

    @app.get(f"{API}/workloads", response_model=list[WorkloadRow], dependencies=[guard])
    def list_workloads() -> list[dict[str, Any]]:
        """The named workload profiles: lengths and latency targets."""
        from kubefoundry.planning import workloads

        return [WorkloadRow.of(p).model_dump() for p in workloads.profiles()]

    @app.post(f"{API}/plan", response_model=PlanResponse, responses=ERRORS, dependencies=[guard])
    def plan(spec: DeploymentSpec, request: Request) -> dict[str, Any]:
        """The plan for a spec: GPUs, parallelism, context, replicas, speed, cost, runtime,
        every decision with the options it turned down. A misfit is a 422 with fixes."""
        from kubefoundry.deploy import rendering

        _, chosen = rendering.plan(spec, _entry(spec), prices=settings.stored_prices(request))
        return {"plan": chosen.to_dict()}

    @app.post(
        f"{API}/render", response_model=RenderResponse, responses=ERRORS, dependencies=[guard]
    )
    def render(spec: DeploymentSpec, request: Request) -> dict[str, Any]:
        """The exact objects a deploy would apply, their explanation and the checks' findings."""
        from kubefoundry.deploy import rendering

        result = rendering.render(spec, _entry(spec), prices=settings.stored_prices(request))
        found = rendering.check(result)
        rendered = result.rendered
        return {
            "runtime": rendered.runtime,
            "plan": result.plan.to_dict(),
            "manifests": list(rendered.manifests),
            "decisions": [
                {"topic": d.topic, "choice": d.choice, "reason": d.reason}
                for d in (*result.plan.decisions, *rendered.decisions)
            ],
            "warnings": [*result.plan.warnings, *rendered.warnings],
            "findings": [CheckFinding.of(f).model_dump() for f in found],
        }

    app.include_router(deployments.router(), prefix=API, dependencies=[guard])
    from kubefoundry.api import streams  # the live routes: watch cache and event streams

    app.include_router(streams.router(), prefix=API, dependencies=[guard])
    app.include_router(live.router(), prefix=API, dependencies=[guard])
    app.include_router(sandbox.router(), prefix=API, dependencies=[guard])
    app.include_router(updates.router(), prefix=API, dependencies=[guard])
    app.include_router(settings.router(), prefix=API, dependencies=[guard])

    @app.get(f"{API}/spec/schema", dependencies=[guard])
    def spec_schema() -> JSONResponse:
        """The JSON Schema of the deployment spec (the body of /plan and /render)."""
        from kubefoundry.core import spec as spec_module

        return JSONResponse(spec_module.schema())

    return app


def _guard(
    given: auth.Mode | str | None, *, token: str | None, holder: deps.ClusterHolder
) -> auth.Guard:
    """The authentication state: each user's token reviewed by the server's own connection
    (``--auth kubernetes``), the shared token, or none."""
    mode = auth.Mode(given) if given else (auth.Mode.TOKEN if token else auth.Mode.NONE)
    if mode is not auth.Mode.KUBERNETES:
        return auth.Guard(mode, token=token)
    from kubefoundry.cluster import reviews

    return auth.Guard(mode, review=lambda given: reviews.review_token(holder.get(), given))


def _entry(spec: DeploymentSpec) -> Any:
    """The model's catalog entry (or Hub config when the Hub is reachable and allowed)."""
    from kubefoundry.deploy import rendering

    return rendering.model_entry(spec.model)
