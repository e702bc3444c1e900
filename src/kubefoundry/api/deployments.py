"""The deployment routes: cluster facts, create, list, status, delete (``/api/v1``).

Each calls the ``deploy/`` use case the CLI calls, on the connection ``deps`` gives.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from kubefoundry.api import deps, settings, streams
from kubefoundry.api.errors import RESPONSES as ERRORS
from kubefoundry.api.models import DeletedBody, DeployedBody, DeploymentList, StatusBody
from kubefoundry.core.spec import DeploymentSpec


def router() -> APIRouter:
    router = APIRouter()

    @router.get("/cluster", responses=ERRORS)
    def cluster_facts(request: Request) -> dict[str, Any]:
        """What the cluster has: cloud, GPU pools (used and free), runtimes installed, and
        what RBAC hid from discovery. Read with the server's own identity (every signed-in
        user plans against the same pools; the chart's ClusterRole lets it read them)."""
        from kubefoundry.deploy import discovering

        facts, refused = discovering.discover(deps.own_connection(request))
        return {"facts": facts.model_dump(mode="json"), "hidden": refused}

    @router.get("/deployments", response_model=DeploymentList, responses=ERRORS)
    def list_deployments(
        request: Request,
        conn: deps.Cluster,
        found: streams.Cache,
        namespace: Annotated[str | None, Query(max_length=63)] = None,
        all_namespaces: bool = False,
    ) -> dict[str, Any]:
        """KubeFoundry deployments in a namespace (default: the kubeconfig's), or in all,
        read from the watch cache: the cluster is not asked again for each call."""
        wanted = None if all_namespaces else (namespace or conn.namespace)
        rows, hidden = listed(request, conn, found, wanted)
        return {"deployments": rows, "hidden": hidden}

    @router.post(
        "/deployments",
        status_code=201,
        response_model=DeployedBody,
        responses=ERRORS,
    )
    def create_deployment(
        spec: DeploymentSpec, request: Request, conn: deps.Cluster
    ) -> dict[str, Any]:
        """Plan against the cluster's discovered facts, render, check (errors stop), check
        permissions, create the token Secret from the server's HF_TOKEN, apply. Returns at
        once; follow it on the deployment's status route."""
        import os

        from kubefoundry.deploy import deploying

        done = deploying.deploy_discovered(
            spec,
            conn=conn,
            token=os.environ.get("HF_TOKEN"),
            prices=settings.stored_prices(request),
            facts_conn=deps.own_connection(request),
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

    @router.get(
        "/deployments/{namespace}/{name}",
        response_model=StatusBody,
        responses=ERRORS,
    )
    def deployment_status(namespace: str, name: str, conn: deps.Cluster) -> dict[str, Any]:
        """Where a deployment is: its phase (a stable code), why, and replicas ready."""
        from kubefoundry.deploy import deploying

        return deploying.status(conn, name=name, namespace=namespace).to_dict()

    @router.delete(
        "/deployments/{namespace}/{name}",
        response_model=DeletedBody,
        responses=ERRORS,
    )
    def delete_deployment(namespace: str, name: str, conn: deps.Cluster) -> dict[str, Any]:
        """Delete a deployment's objects. The model-cache PVC stays (other deployments of the
        model share it); `kubefoundry delete --delete-cache` removes it."""
        from kubefoundry.deploy import deploying

        gone = deploying.delete(conn, name=name, namespace=namespace)
        return {"deleted": gone, "kept": "the model cache (PVC) stays for the next deployment"}

    return router


def listed(
    request: Request, conn: Any, found: Any, wanted: str | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The deployment rows the request's user may see in ``wanted`` (None: everywhere), from
    the watch cache; where the server may not watch some root kind everywhere, one namespace
    is listed directly as the user. The API's list and the deployments page both read this."""
    if found.hidden() and wanted is not None:
        from kubefoundry.deploy import listing

        return listing.deployments(conn, namespace=wanted)
    rows, hidden = streams.visible_rows(request, found, wanted)
    return rows, hidden
