"""The pages that act on a cluster: deploy a model, the deployments, one deployment, the cluster.

Each page calls the ``deploy/`` use case the CLI and the REST API call, on the connection the
API gives for the request's user (``app.state.connection_for``: the pages may not import the
API, and the API decides who the user is). Pages are complete without JavaScript: the first
state is rendered on the server and every action is a form. ``static/live.js`` then follows
the API's event streams so phases, events, logs and the list change as the cluster does.

Unsafe actions (deploy, scale, delete) are POST forms carrying the CSRF field; they answer
with a redirect to the page that shows the result (post/redirect/get), so a reload never
repeats them. A refusal (a name that exists, RBAC, a spec that does not fit the cluster) is
shown on the form that caused it, in the spec's words.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any, get_args

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from kubefoundry.cluster.errors import ForbiddenError
from kubefoundry.core.errors import (
    DoesNotFitError,
    InvalidInputError,
    KubeFoundryError,
    NotFoundError,
    RetryableError,
)
from kubefoundry.core.spec import DeploymentSpec, SpecError
from kubefoundry.web import cards

# The deploy form's inputs → the spec's fields (dotted), and back for the problems.
DECISIONS = {
    "name": "name",
    "namespace": "namespace",
    "tier": "tier",
    "profile": "workload.profile",
    "rps": "workload.requests_per_s",
    "gpu": "gpu",
    "replicas": "replicas",
    "context_length": "context_length",
    "runtime": "runtime",
    "exposure": "serving.exposure",
    "host": "serving.host",
    "monitoring": "serving.monitoring",
    "hf_token_secret": "hf_token_secret",
    # the model page's other pins, under "more"
    "gpu_count": "gpu_count",
    "quantization": "quantization",
    "kv_cache_dtype": "kv_cache_dtype",
    "cloud": "cloud",
}
FIELD_INPUT = {field: name for name, field in DECISIONS.items()}
PHASES = ("waiting_for_operator", "scheduling", "pulling_image", "downloading_model",
          "loading_model", "ready")  # fmt: skip


def router(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

    def page(request: Request, template: str, code: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, template, context, status_code=code)

    @router.get("/models/{name:path}/deploy")
    def deploy_form(request: Request, name: str) -> HTMLResponse:
        entry = model_or_error(name)
        if isinstance(entry, KubeFoundryError):
            return page(request, "not_found.html", http_status(entry), error=entry)
        form = _decisions(request.query_params, model=entry.id)
        return _deploy_page(request, page, entry, form)

    @router.post("/deployments")
    async def deploy(request: Request) -> Any:
        from kubefoundry.deploy import deploying

        posted = await request.form()
        model = str(posted.get("model", ""))[:200]
        entry = model_or_error(model)
        if isinstance(entry, KubeFoundryError):
            return page(request, "not_found.html", http_status(entry), error=entry)
        form = _decisions(posted, model=entry.id)
        try:
            spec = _spec(entry.id, form)
            conn = _connection(request)
            done = deploying.deploy_discovered(
                spec,
                conn=conn,
                token=os.environ.get("HF_TOKEN"),
                prices=_services(request).prices(request),
                facts_conn=_services(request).own_connection(request),
            )
        except KubeFoundryError as exc:
            return _deploy_page(request, page, entry, form, refused=exc)
        target = f"/deployments/{done.namespace}/{done.result.plan.name}"
        return RedirectResponse(target + "?deployed=1", status_code=303)

    @router.get("/deployments")
    def deployments(request: Request, namespace: str = "", deleted: str = "") -> HTMLResponse:
        refused: KubeFoundryError | None = None
        try:
            rows, hidden = _services(request).deployments(request, namespace[:63] or None)
        except ForbiddenError as exc:  # a namespace the user may not read: say so, in place
            rows, hidden, refused = [], [], exc
        except KubeFoundryError as exc:
            return _no_cluster(request, page, exc, what="Deployments")
        return page(
            request,
            "deployments.html",
            403 if refused else 200,
            rows=rows,
            hidden=hidden,
            namespace=namespace[:63],
            deleted=deleted[:100],
            refused=refused,
        )

    @router.get("/deployments/{namespace}/{name}")
    def deployment(request: Request, namespace: str, name: str) -> HTMLResponse:
        from kubefoundry.deploy import deploying

        try:
            conn = _connection(request)
            status = deploying.status(conn, name=name, namespace=namespace)
            detail = _detail(request, conn, name=name, namespace=namespace)
        except NotFoundError as exc:
            return page(request, "not_found.html", 404, error=exc)
        except KubeFoundryError as exc:
            return _no_cluster(request, page, exc, what=name)
        return page(
            request,
            "deployment.html",
            namespace=namespace,
            name=name,
            status=status,
            phases=PHASES,
            deployed=request.query_params.get("deployed") == "1",
            scaled=request.query_params.get("scaled", "")[:10],
            updated=request.query_params.get("updated") == "1",
            refused=None,
            **detail,
        )

    @router.post("/deployments/{namespace}/{name}/scale")
    async def scale(request: Request, namespace: str, name: str) -> Any:
        from kubefoundry.deploy import deploying

        posted = await request.form()
        replicas = str(posted.get("replicas", "")).strip()
        try:
            conn = _connection(request)
            wanted = _replicas(replicas)
            _scale(request, conn, name=name, namespace=namespace, replicas=wanted)
        except NotFoundError as exc:
            return page(request, "not_found.html", 404, error=exc)
        except KubeFoundryError as exc:
            conn = _connection(request)
            return page(
                request,
                "deployment.html",
                http_status(exc),
                namespace=namespace,
                name=name,
                status=deploying.status(conn, name=name, namespace=namespace),
                phases=PHASES,
                deployed=False,
                scaled="",
                updated=False,
                refused=exc,
                **_detail(request, conn, name=name, namespace=namespace),
            )
        return RedirectResponse(f"/deployments/{namespace}/{name}?scaled={wanted}", status_code=303)

    @router.get("/deployments/{namespace}/{name}/edit")
    def edit(request: Request, namespace: str, name: str) -> HTMLResponse:
        """The decisions the deployment was made with, to change; with changes given, the
        diff an update would apply (objects, plan) and the button that applies it."""
        return _edit_page(
            request, page, namespace=namespace, name=name, values=request.query_params
        )

    @router.post("/deployments/{namespace}/{name}/edit")
    async def apply_edit(request: Request, namespace: str, name: str) -> Any:
        from kubefoundry.deploy import updating

        posted = await request.form()
        try:
            conn = _connection(request)
            current = _form_of(_stored(conn, name=name, namespace=namespace))
            changes = _changes(current, _edited(posted, current))
            update = _update(request, conn, name=name, namespace=namespace, changes=changes)
            updating.apply_update(conn, update)
        except (SpecError, DoesNotFitError, InvalidInputError, ForbiddenError) as exc:
            return _edit_page(
                request, page, namespace=namespace, name=name, values=posted, refused=exc
            )
        except NotFoundError as exc:
            return page(request, "not_found.html", 404, error=exc)
        except KubeFoundryError as exc:
            return _no_cluster(request, page, exc, what=name)
        return RedirectResponse(f"/deployments/{namespace}/{name}?updated=1", status_code=303)

    @router.post("/deployments/{namespace}/{name}/delete")
    def delete(request: Request, namespace: str, name: str) -> Any:
        from kubefoundry.deploy import deploying

        try:
            deploying.delete(_connection(request), name=name, namespace=namespace)
        except NotFoundError as exc:
            return page(request, "not_found.html", 404, error=exc)
        except KubeFoundryError as exc:
            return _no_cluster(request, page, exc, what=name)
        query = urllib.parse.urlencode({"namespace": namespace, "deleted": name})
        return RedirectResponse(f"/deployments?{query}", status_code=303)

    @router.get("/cluster")
    def cluster(request: Request) -> HTMLResponse:
        from kubefoundry.deploy import discovering

        try:
            conn = _services(request).own_connection(request)
            facts, hidden = discovering.discover(conn)
        except KubeFoundryError as exc:
            return _no_cluster(request, page, exc, what="Cluster")
        return page(
            request,
            "cluster.html",
            connection=panel(request),
            facts=facts,
            hidden=hidden,
            context=conn.context,
            server=conn.server,
        )

    return router


def _deploy_page(
    request: Request,
    page: Any,
    entry: Any,
    form: dict[str, str],
    refused: KubeFoundryError | None = None,
) -> HTMLResponse:
    """The deploy form with the preview of what it would apply: planned against the cluster
    when the server has one (its pools, operators), otherwise against the catalogs."""
    from kubefoundry.deploy import rendering
    from kubefoundry.runtimes import base

    problems: dict[str, str] = {}
    result = findings = yaml = None
    facts = None
    cluster_problem: KubeFoundryError | None = None
    prices: dict[str, float] = {}
    try:
        conn = _connection(request)
        facts = _services(request).facts(request)
        prices = _services(request).prices(request)
        form.setdefault("namespace", conn.namespace)
    except KubeFoundryError as exc:
        cluster_problem = exc
    misfit = None
    try:
        spec = _spec(entry.id, form)
        options = base.Options.from_spec(spec)
        result = rendering.render(spec, entry, options=options, facts=facts, prices=prices)
        findings = rendering.check(result, facts=facts)
        yaml = _yaml(result.rendered.manifests)
    except SpecError as exc:
        problems = {FIELD_INPUT.get(p.field, p.field): p.message for p in exc.problems}
    except NotFoundError as exc:
        problems = {exc.kind.lower() if exc.kind.lower() in DECISIONS else "model": exc.message}
    except DoesNotFitError as exc:
        misfit = cards.misfit(form["tier"], exc, path=f"/models/{entry.id}/deploy", query=form)
    if isinstance(refused, SpecError):
        problems.update({FIELD_INPUT.get(p.field, p.field): p.message for p in refused.problems})
        refused = None
    code = 200
    if refused is not None:
        code = http_status(refused)
    elif problems or misfit:
        code = 422
    response: HTMLResponse = page(
        request,
        "deploy.html",
        code,
        entry=entry,
        form=form,
        problems=problems,
        misfit=misfit,
        refused=refused,
        result=result,
        findings=findings or [],
        yaml=yaml,
        connected=cluster_problem is None,
        **({"connection": panel(request)} if cluster_problem is not None else {}),
        cluster_problem=cluster_problem,
        **_choices(facts),
        blocking=any(f.is_error for f in findings or []),
    )
    return response


def _choices(facts: Any) -> dict[str, Any]:
    """What the decision fields offer: the cluster's GPU pools (else every GPU the planner
    knows), the runtimes, the workload profiles, each vocabulary of the spec."""
    from kubefoundry.catalog import gpus
    from kubefoundry.core import choices
    from kubefoundry.planning import workloads
    from kubefoundry.runtimes import registry

    return {
        "pools": sorted({p.gpu for p in facts.gpu_pools() if p.gpu}) if facts else [],
        "gpus": [g.id for g in gpus.load().all()],
        "runtimes": sorted(r.name for r in registry.default().all()),
        "profiles": workloads.profiles(),
        "options": {
            "tier": get_args(choices.Tier),
            "exposure": get_args(choices.Exposure),
            "monitoring": get_args(choices.Monitoring),
            "quantization": get_args(choices.QuantFlag),
            "kv_cache_dtype": get_args(choices.KvCacheDtype),
            "cloud": get_args(choices.Cloud),
        },
    }


def _decisions(values: Any, *, model: str) -> dict[str, str]:
    """The deploy form's inputs that were given (empty ones left out), each cut to a sane
    length; the model's default name when none was given."""
    from kubefoundry.core import naming

    form = {k: str(values.get(k, "")).strip()[:253] for k in DECISIONS}
    form = {k: v for k, v in form.items() if v}
    form.setdefault("tier", "better")
    form.setdefault("profile", "chat")
    form.setdefault("name", naming.dns_label(model))
    return form


def _spec(model: str, form: dict[str, str]) -> DeploymentSpec:
    """The form as a spec, through the spec's own parser (its errors name its fields)."""
    from kubefoundry.core import spec

    body: dict[str, Any] = {"model": model}
    for name, value in form.items():
        here = body
        *parents, leaf = DECISIONS[name].split(".")
        for parent in parents:
            here = here.setdefault(parent, {})
        here[leaf] = value
    return spec.parse(body)


def _services(request: Request) -> Any:
    """What the API gives the pages (``api/services.PageServices``): the user's connection,
    the server's own, the watch cache, the settings, the cluster panel."""
    return request.app.state.services


def _connection(request: Request) -> Any:
    return _services(request).connection(request)


def panel(request: Request) -> dict[str, Any]:
    """What the cluster panel (``_connection.html``) shows: where the server deploys, or how
    to get a cluster (the sandbox, a kubeconfig)."""
    state: dict[str, Any] = _services(request).panel(request)
    return state


def _entry_or_none(name: str) -> Any:
    found = model_or_error(name)
    return None if isinstance(found, KubeFoundryError) else found


def model_or_error(name: str) -> Any:
    """The model's entry (the catalog, else any Hugging Face id read from the Hub, as plan
    and render resolve it), or the error the page shows instead: a NotFoundError with close
    names, or why the Hub could not be read."""
    from kubefoundry.deploy import rendering

    try:
        return rendering.model_entry(name)
    except KubeFoundryError as exc:
        return exc


def _no_cluster(request: Request, page: Any, exc: KubeFoundryError, *, what: str) -> HTMLResponse:
    """The page for a cluster that cannot be used (none given, unreachable, refusing): the
    error, its fix, and the cluster panel (the sandbox, a kubeconfig)."""
    answer: HTMLResponse = page(
        request,
        "no_cluster.html",
        http_status(exc),
        error=exc,
        what=what,
        connection=panel(request),
    )
    return answer


def http_status(exc: KubeFoundryError) -> int:
    """The HTTP status a page answers for a refusal: the API's, for the same error."""
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ForbiddenError):
        return 403
    if isinstance(exc, RetryableError):
        return 503
    if isinstance(exc, SpecError | DoesNotFitError):
        return 422
    return 400


def _replicas(text: str) -> int:
    from kubefoundry.core import spec

    try:
        wanted = int(text)
    except ValueError:
        wanted = 0
    if not 1 <= wanted <= 100:
        raise SpecError(
            [spec.Problem("replicas", text, "A whole number of replicas from 1 to 100.")]
        )
    return wanted


def _scale(request: Request, conn: Any, *, name: str, namespace: str, replicas: int) -> None:
    """Scale through the update use case: re-planned, re-rendered, applied."""
    from kubefoundry.deploy import updating

    update = _update(request, conn, name=name, namespace=namespace, changes={"replicas": replicas})
    updating.apply_update(conn, update)


def _update(
    request: Request, conn: Any, *, name: str, namespace: str, changes: dict[str, Any]
) -> Any:
    """The update a change makes, planned as a deploy plans: the cluster's pools seen with
    the server's own eyes, the stored prices; nothing written."""
    from kubefoundry.deploy import updating

    facts = _services(request).facts(request)
    return updating.plan_update(
        conn,
        name=name,
        namespace=namespace,
        changes=changes,
        prices=_services(request).prices(request),
        facts=facts,
    )


def _detail(request: Request, conn: Any, *, name: str, namespace: str) -> dict[str, Any]:
    """What the deployment page shows besides the phase: the plan summary on its root, the
    plan re-derived from the spec it was made from (memory breakdown, speed, cost), the
    events so far."""
    from kubefoundry.core import identity
    from kubefoundry.deploy import deploying, rendering

    root = deploying.find(conn, name=name, namespace=namespace)
    summary = identity.summary_of(root) or identity.PlanSummary()
    plan = None
    spec = identity.spec_of(root)
    if spec is not None:
        try:
            _, plan = rendering.plan(spec, rendering.model_entry(spec.model))
        except KubeFoundryError:
            plan = None  # the catalogs moved on since; the summary still says what runs
    return {
        "root": root,
        "summary": summary,
        "runtime": identity.runtime_of(root),
        "plan": plan.to_dict() if plan is not None else None,
        "events": _services(request).events(request, name=name, namespace=namespace),
    }


def _yaml(manifests: Any) -> str:
    import yaml

    return yaml.safe_dump_all([dict(m) for m in manifests], sort_keys=False, width=100)


EDITABLE = tuple(k for k in DECISIONS if k not in ("name", "namespace"))


def _stored(conn: Any, *, name: str, namespace: str) -> DeploymentSpec:
    from kubefoundry.deploy import deploying, updating

    root = deploying.find(conn, name=name, namespace=namespace)
    spec: DeploymentSpec = updating.stored_spec(root, name=name, namespace=namespace)
    return spec


def _form_of(spec: DeploymentSpec) -> dict[str, str]:
    """The edit form's inputs as the spec has them (what is unset left out)."""
    data = spec.model_dump(mode="json")
    form: dict[str, str] = {}
    for name in EDITABLE:
        value: Any = data
        for part in DECISIONS[name].split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            form[name] = f"{value:g}" if isinstance(value, float) else str(value)
    return form


def _edited(values: Any, current: dict[str, str]) -> dict[str, str]:
    """The edit form as submitted: each editable input given, else as it was."""
    return {
        name: str(values.get(name, "")).strip()[:253] if name in values else current.get(name, "")
        for name in EDITABLE
    }


def _changes(current: dict[str, str], edited: dict[str, str]) -> dict[str, Any]:
    """The fields the form changed, as a merge patch on the spec (an emptied input unsets
    its field: the planner decides it again)."""
    patch: dict[str, Any] = {}
    for name in EDITABLE:
        before, after = current.get(name, ""), edited.get(name, "")
        if before == after:
            continue
        here = patch
        *parents, leaf = DECISIONS[name].split(".")
        for parent in parents:
            here = here.setdefault(parent, {})
        here[leaf] = after or None
    return patch


def _edit_page(
    request: Request,
    page: Any,
    *,
    namespace: str,
    name: str,
    values: Any,
    refused: KubeFoundryError | None = None,
) -> HTMLResponse:

    try:
        conn = _connection(request)
        stored = _stored(conn, name=name, namespace=namespace)
        current = _form_of(stored)
        facts = _services(request).facts(request)
    except NotFoundError as exc:
        return page(request, "not_found.html", 404, error=exc)  # type: ignore[no-any-return]
    except KubeFoundryError as exc:
        return _no_cluster(request, page, exc, what=name)
    edited = _edited(values, current)
    changes = _changes(current, edited)
    update = misfit = None
    problems: dict[str, str] = {}
    if changes and refused is None:
        try:
            update = _update(request, conn, name=name, namespace=namespace, changes=changes)
        except SpecError as exc:
            refused = exc
        except DoesNotFitError as exc:
            query = {k: v for k, v in edited.items() if v}
            path = f"/deployments/{namespace}/{name}/edit"
            misfit = cards.misfit(edited.get("tier", "better"), exc, path=path, query=query)
        except KubeFoundryError as exc:
            refused = exc
    if isinstance(refused, SpecError):
        problems = {FIELD_INPUT.get(p.field, p.field): p.message for p in refused.problems}
        refused = None
    code = (
        200 if not (refused or problems or misfit) else (http_status(refused) if refused else 422)
    )
    return page(  # type: ignore[no-any-return]
        request,
        "edit.html",
        code,
        namespace=namespace,
        name=name,
        form=edited,
        changed=sorted(k for k in EDITABLE if current.get(k, "") != edited.get(k, "")),
        update=update,
        misfit=misfit,
        refused=refused,
        problems=problems,
        entry=None
        if isinstance(entry := model_or_error(stored.model), KubeFoundryError)
        else entry,
        **_choices(facts),
    )
