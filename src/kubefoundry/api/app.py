"""The REST API: the catalog, the planner and the renderer over HTTP (``kubefoundry serve``).

A thin shell over the same functions the CLI calls (``deploy/rendering``, ``deploy/views``,
the catalogs): a plan or render from the API is the one ``kubefoundry plan -f`` gives for the
same ``DeploymentSpec``. Its body *is* the spec, so ``/openapi.json`` publishes the spec's
schema. Every domain error becomes an HTTP answer in one place (``errors.py``); a 4xx body
says what was wrong and how to fix it, in the spec's field names.

Security: the server binds to 127.0.0.1 unless told otherwise; when a token is set (always
when it is exposed, see ``cli/serve_cmd``), every ``/api`` route wants it as a bearer token.
No response ever carries a secret's value: the spec names a Secret, never a token.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query
from fastapi.responses import JSONResponse

from kubefoundry import __version__
from kubefoundry.api import errors
from kubefoundry.api.models import (
    CheckFinding,
    DeletedBody,
    DeployedBody,
    DeploymentList,
    ErrorBody,
    GpuRow,
    ModelRow,
    PlanResponse,
    RenderResponse,
    StatusBody,
    TierRow,
    WorkloadRow,
)
from kubefoundry.cluster.connecting import Connection, Target
from kubefoundry.core.errors import RetryableError
from kubefoundry.core.spec import DeploymentSpec
from kubefoundry.web import pages

API = "/api/v1"
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Input that cannot be used."},
    404: {"model": ErrorBody, "description": "A name that is not known."},
    422: {"model": ErrorBody, "description": "A spec that does not validate or does not fit."},
}


def create_app(*, token: str | None = None, cluster: Target | None = None) -> FastAPI:
    """The application; with ``token``, every ``/api`` route wants ``Authorization: Bearer``.

    ``cluster``: the kubeconfig (and context, namespace) the deployment routes act through,
    connected on first use; without one they answer 503 saying how to give one.
    """
    app = FastAPI(
        title="KubeFoundry",
        version=__version__,
        summary="Plan, render and deploy open LLMs on Kubernetes, every choice explained.",
    )
    errors.install(app)
    pages.install(app)  # the web pages: the same functions, as HTML
    guard = _bearer(token)
    conn = _Cluster(cluster)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(f"{API}/models", response_model=list[ModelRow], dependencies=[guard])
    def list_models(
        q: Annotated[str | None, Query(max_length=200, description="Text in id or name.")] = None,
        family: Annotated[str | None, Query(max_length=100)] = None,
        gated: bool | None = None,
        max_params_b: Annotated[float | None, Query(gt=0, le=10_000)] = None,
    ) -> list[dict[str, Any]]:
        """The curated catalog, filtered."""
        from kubefoundry.catalog import models
        from kubefoundry.deploy import views

        rows = [views.model_row(e) for e in models.ModelCatalog.load().all()]
        return views.matching(rows, q=q, family=family, gated=gated, max_params_b=max_params_b)

    @app.get(
        f"{API}/models/{{name:path}}",
        response_model=ModelRow,
        responses=ERRORS,
        dependencies=[guard],
    )
    def get_model(name: str) -> dict[str, Any]:
        """One curated model by alias or Hugging Face id (404 with close matches)."""
        from kubefoundry.catalog import models
        from kubefoundry.deploy import views

        return views.model_row(models.ModelCatalog.load().get(name))

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
    def plan(spec: DeploymentSpec) -> dict[str, Any]:
        """The plan for a spec: GPUs, parallelism, context, replicas, speed, cost, runtime,
        every decision with the options it turned down. A misfit is a 422 with fixes."""
        from kubefoundry.deploy import rendering

        _, chosen = rendering.plan(spec, _entry(spec))
        return {"plan": chosen.to_dict()}

    @app.post(
        f"{API}/render", response_model=RenderResponse, responses=ERRORS, dependencies=[guard]
    )
    def render(spec: DeploymentSpec) -> dict[str, Any]:
        """The exact objects a deploy would apply, their explanation and the checks' findings."""
        from kubefoundry.deploy import rendering

        result = rendering.render(spec, _entry(spec))
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

    @app.get(f"{API}/cluster", responses=ERRORS, dependencies=[guard])
    def cluster_facts() -> dict[str, Any]:
        """What the cluster has: cloud, GPU pools (used and free), runtimes installed, and
        what RBAC hid from discovery."""
        from kubefoundry.deploy import discovering

        facts, refused = discovering.discover(conn.get())
        return {"facts": facts.model_dump(mode="json"), "hidden": refused}

    @app.get(
        f"{API}/deployments", response_model=DeploymentList, responses=ERRORS, dependencies=[guard]
    )
    def list_deployments(
        namespace: Annotated[str | None, Query(max_length=63)] = None,
        all_namespaces: bool = False,
    ) -> dict[str, Any]:
        """KubeFoundry deployments in a namespace (default: the kubeconfig's), or in all."""
        from kubefoundry.deploy import listing

        here = conn.get()
        rows, hidden = listing.deployments(
            here, namespace=None if all_namespaces else (namespace or here.namespace)
        )
        return {"deployments": rows, "hidden": hidden}

    @app.post(
        f"{API}/deployments",
        status_code=201,
        response_model=DeployedBody,
        responses=ERRORS,
        dependencies=[guard],
    )
    def create_deployment(spec: DeploymentSpec) -> dict[str, Any]:
        """Plan against the cluster's discovered facts, render, check (errors stop), check
        permissions, create the token Secret from the server's HF_TOKEN, apply. Returns at
        once; follow it on the deployment's status route."""
        import os

        from kubefoundry.catalog import hub
        from kubefoundry.deploy import deploying, discovering
        from kubefoundry.runtimes import base

        here = conn.get()
        facts, _ = discovering.discover(here)
        reach = hub.Reach.from_env()
        done = deploying.deploy(
            spec,
            _entry(spec),
            conn=here,
            options=base.Options.from_spec(spec),
            facts=facts,
            token=os.environ.get("HF_TOKEN"),
            reach=reach,
        )
        return {
            "name": done.result.plan.name,
            "namespace": done.namespace,
            "runtime": done.result.rendered.runtime,
            "plan": done.result.plan.to_dict(),
            "applied": [f"{a.kind}/{a.name}" for a in done.applied],
            "token_secret": done.token_secret,
            "warnings": [*done.result.plan.warnings, *done.warnings],
        }

    @app.get(
        f"{API}/deployments/{{namespace}}/{{name}}",
        response_model=StatusBody,
        responses=ERRORS,
        dependencies=[guard],
    )
    def deployment_status(namespace: str, name: str) -> dict[str, Any]:
        """Where a deployment is: its phase (a stable code), why, and replicas ready."""
        from kubefoundry.deploy import deploying

        return deploying.status(conn.get(), name=name, namespace=namespace).to_dict()

    @app.delete(
        f"{API}/deployments/{{namespace}}/{{name}}",
        response_model=DeletedBody,
        responses=ERRORS,
        dependencies=[guard],
    )
    def delete_deployment(namespace: str, name: str) -> dict[str, Any]:
        """Delete a deployment's objects. The model-cache PVC stays (other deployments of the
        model share it); `kubefoundry delete --delete-cache` removes it."""
        from kubefoundry.deploy import deploying

        gone = deploying.delete(conn.get(), name=name, namespace=namespace)
        return {"deleted": gone, "kept": "the model cache (PVC) stays for the next deployment"}

    @app.get(f"{API}/spec/schema", dependencies=[guard])
    def spec_schema() -> JSONResponse:
        """The JSON Schema of the deployment spec (the body of /plan and /render)."""
        from kubefoundry.core import spec as spec_module

        return JSONResponse(spec_module.schema())

    return app


def _entry(spec: DeploymentSpec) -> Any:
    """The model's catalog entry (or Hub config when the Hub is reachable and allowed)."""
    from kubefoundry.deploy import rendering

    return rendering.model_entry(spec.model)


class _Cluster:
    """The one connection the deployment routes share, made on first use."""

    def __init__(self, target: Target | None) -> None:
        self._target = target
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def get(self) -> Connection:
        if self._target is None:
            raise RetryableError(
                "This server has no cluster to act on.",
                delay_s=60,
                hint="Start it with `kubefoundry serve --kubeconfig PATH` (or `kubefoundry "
                "sandbox up` for a local one); the catalog, plan and render work without.",
            )
        with self._lock:
            if self._conn is None:
                from kubefoundry.cluster import connecting

                self._conn = connecting.connect(self._target)
            return self._conn


def _bearer(token: str | None) -> Any:
    """A dependency that wants ``Authorization: Bearer <token>`` when a token is set."""

    def check(authorization: Annotated[str | None, Header()] = None) -> None:
        if token is None:
            return
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise errors.UnauthorizedError()

    dependency: Callable[..., None] = check
    return Depends(dependency)
