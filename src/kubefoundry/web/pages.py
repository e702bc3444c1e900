"""The pages' routes: each parses its form, calls the function the API calls, fills a template.

Forms are GET forms, so every page is a link (bookmark a plan, share a YAML preview) and works
without JavaScript. A field that cannot be used is said next to its input (the spec's dotted
path becomes the form's field name); a model that does not fit shows the fixes the planner
checked, each a link to the page with that fix applied.
"""

from __future__ import annotations

from typing import Any

import jinja2
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from kubefoundry import __version__
from kubefoundry.core.errors import DoesNotFitError, KubeFoundryError, NotFoundError
from kubefoundry.core.spec import DeploymentSpec, SpecError
from kubefoundry.web import cards, deployments, login, remedies, settings

# The spec's field → the form input that carries it.
FIELDS = {"workload.profile": "profile", "workload.requests_per_s": "rps", "tier": "tier"}


def install(app: FastAPI) -> None:
    """Add the pages and their stylesheet (``/static``, package data) to ``app``."""
    app.mount("/static", StaticFiles(packages=[("kubefoundry.web", "static")]), name="static")
    templates = _templates()
    # First: ``/models/{name}/deploy`` must win over the model page's ``/models/{name:path}``.
    app.include_router(deployments.router(templates))
    app.include_router(settings.router(templates))
    app.include_router(_router(templates))
    app.include_router(login.router(templates))  # /login, /logout (api/guarding checks)


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kubefoundry.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(cards.filters())
    env.filters.update(remedies.filters())  # error|fix: an error's fix in the pages' words
    env.globals["version"] = __version__
    env.globals.update(login.template_globals())  # csrf_field(), csrf_token(), signed_in()
    return Jinja2Templates(env=env)


def _router(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status)

    @router.get("/")
    def catalog(
        request: Request,
        q: str = "",
        family: str = "",
        max_params_b: str = "",
        gated: str = "",
        task: str = "",
        license: str = "",
        fits_cluster: str = "",
    ) -> HTMLResponse:
        from kubefoundry.catalog import models
        from kubefoundry.deploy import views

        every = [views.catalog_row(e) for e in models.ModelCatalog.load().all()]
        problems: dict[str, str] = {}
        status = 200
        largest = _positive(max_params_b)
        if max_params_b and largest is None:
            problems["max_params_b"] = "A number of billions of parameters above 0, e.g. 9."
        wanted = fits_cluster.lower() in ("true", "on", "yes", "1")
        cluster = _cluster_pools(request, wanted=wanted)
        if wanted and not isinstance(cluster, tuple):
            problems["fits_cluster"] = cluster
            status = 503
        try:
            rows = views.matching(
                every,
                q=q.strip()[:200] or None,
                family=family or None,
                gated={"yes": True, "no": False}.get(gated),
                max_params_b=largest,
                task=task[:100] or None,
                license=license[:100] or None,
                pools=cluster if wanted and isinstance(cluster, tuple) else None,
            )
        except SpecError as exc:
            problems.update({p.field: p.message for p in exc.problems})
            rows = []
        form = {
            "q": q,
            "family": family,
            "max_params_b": max_params_b,
            "gated": gated,
            "task": task,
            "license": license,
            "fits_cluster": "true" if wanted else "",
        }
        return page(
            request,
            "catalog.html",
            (422 if problems.keys() - {"fits_cluster"} else status),
            rows=rows,
            total=len(every),
            families=sorted({r["family"] for r in every}),
            choices=views.choices(every),
            gpu_names=_gpu_names(),
            cluster=cluster,
            form=form,
            problems=problems,
            connection=deployments.panel(request),
        )

    @router.get("/models/{name:path}/render")
    def render(request: Request, name: str, tier: str = "better") -> HTMLResponse:
        from kubefoundry.deploy import rendering

        entry = deployments.model_or_error(name)
        if isinstance(entry, KubeFoundryError):
            return page(request, "not_found.html", deployments.http_status(entry), error=entry)
        form = _form(request)
        try:
            spec = _spec(entry.id, tier, form)
            result = rendering.render(spec, entry)
        except (SpecError, NotFoundError) as exc:
            return page(request, "problem.html", 422, entry=entry, problems=_problems(exc))
        except DoesNotFitError as exc:
            card = cards.misfit(tier, exc, path=f"/models/{entry.id}", query=form)
            return page(request, "problem.html", 422, entry=entry, card=card, problems={})
        return page(
            request,
            "render.html",
            entry=entry,
            tier=tier,
            form=form,
            result=result,
            yaml=_yaml(result.rendered.manifests),
            findings=rendering.check(result),
        )

    @router.get("/models/{name:path}")
    def model(request: Request, name: str) -> HTMLResponse:
        from kubefoundry.catalog import gpus
        from kubefoundry.deploy import rendering, views
        from kubefoundry.planning import tiers, workloads

        entry = deployments.model_or_error(name)
        if isinstance(entry, KubeFoundryError):
            return page(request, "not_found.html", deployments.http_status(entry), error=entry)
        form = _form(request)
        path = f"/models/{entry.id}"
        shown: list[cards.Card] = []
        problems: dict[str, str] = {}
        for tier in tiers.all_tiers():
            try:
                _, plan = rendering.plan(_spec(entry.id, tier.name, form), entry)
            except (SpecError, NotFoundError) as exc:
                problems = _problems(exc)
                break
            except DoesNotFitError as exc:
                shown.append(cards.misfit(tier.name, exc, path=path, query=form))
            else:
                shown.append(cards.planned(tier.name, plan))
        return page(
            request,
            "model.html",
            422 if problems else 200,
            entry=entry,
            row=views.model_row(entry),
            cards=[] if problems else shown,
            profiles=workloads.profiles(),
            form=form,
            query=_query(form),
            pins={k: v for k, v in form.items() if k in cards.PINS},
            unpinned=_query({k: v for k, v in form.items() if k not in cards.PINS}, lead="?"),
            gpus=[g.id for g in gpus.load().all()],
            problems=problems,
        )

    return router


def _gpu_names() -> dict[str, str]:
    """Each GPU's short name (its first alias, the one a ``gpu`` pin takes), for the catalog's
    compact "fits on" column; the full id is its title."""
    from kubefoundry.catalog import gpus

    return {g.id: (g.aliases[0] if g.aliases else g.id) for g in gpus.load().all()}


def _cluster_pools(request: Request, *, wanted: bool) -> Any:
    """What the "fits my cluster" filter compares with: the cluster's GPU pools (discovered
    with the server's own identity, kept ``fitting.POOLS_TTL_S``) when it is ``wanted``, else
    None; or why it cannot be used, a sentence. Discovery reads every node and pod, so a page
    that does not filter by the cluster does not wait for it."""
    from kubefoundry.core.errors import KubeFoundryError
    from kubefoundry.deploy import discovering, fitting

    services = request.app.state.services
    if not services.has_cluster(request):
        return "No cluster is connected: start the sandbox or serve with --kubeconfig."
    if not wanted:
        return None
    try:
        conn = services.own_connection(request)
        pools = fitting.PoolCache.on(request.app.state).pools(
            conn, lambda: discovering.discover(conn)[0]
        )
    except KubeFoundryError as exc:
        return f"The cluster's GPU pools cannot be read: {exc.message}"
    if not pools:
        return "The cluster has no GPU nodes whose GPU the catalog knows."
    return pools


def _form(request: Request) -> dict[str, str]:
    """The workload and pins the page was asked for, empty inputs left out."""
    keep = ("profile", "rps", *cards.PINS)
    return {k: v[:100] for k, v in request.query_params.items() if k in keep and v.strip()}


def _query(form: dict[str, str], lead: str = "") -> str:
    import urllib.parse

    return lead + urllib.parse.urlencode(form) if form else ""


def _spec(model: str, tier: str, form: dict[str, str]) -> DeploymentSpec:
    from kubefoundry.core import spec

    workload: dict[str, str] = {"profile": form.get("profile", "chat")}
    if "rps" in form:
        workload["requests_per_s"] = form["rps"]
    pins = {k: form[k] for k in cards.PINS if k in form}
    return spec.parse({"model": model, "tier": tier, "workload": workload, **pins})


def _problems(exc: SpecError | NotFoundError) -> dict[str, str]:
    """Each problem under the form input it belongs to (a pinned name the catalogs do not
    know, e.g. a GPU, under its pin)."""
    if isinstance(exc, NotFoundError):
        return {exc.kind.lower() if exc.kind.lower() in cards.PINS else exc.kind: exc.message}
    return {FIELDS.get(p.field, p.field): p.message for p in exc.problems}


def _positive(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 < value <= 10_000 else None


def _yaml(manifests: Any) -> str:
    import yaml

    return yaml.safe_dump_all([dict(m) for m in manifests], sort_keys=False, width=100)
