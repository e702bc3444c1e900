"""Plan a request, pick its runtime and render the objects: the pure half of a deploy.

``cli``, ``api`` and a future in-cluster operator all call this one function, so a file in
Git, a click in the UI and ``kubefoundry render`` produce the same objects.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from kubefoundry.catalog import gpus, hub, instances, models
from kubefoundry.catalog.models import ModelEntry
from kubefoundry.core import identity
from kubefoundry.core.facts import ClusterFacts
from kubefoundry.core.spec import DeploymentSpec
from kubefoundry.planning import planner
from kubefoundry.planning.plans import Plan
from kubefoundry.runtimes import base, choosing, registry

if TYPE_CHECKING:  # the checks (JSON Schema) and the exporters load when asked for: `plan`
    from kubefoundry.checks.findings import Finding  # needs neither
    from kubefoundry.checks.schemas import Schemas
    from kubefoundry.runtimes import export


@dataclasses.dataclass(frozen=True)
class Result:
    plan: Plan  # with the runtime decision recorded
    rendered: base.Rendered
    options: base.Options


def model_entry(
    name: str, *, config: Path | None = None, reach: hub.Reach | None = None
) -> ModelEntry:
    """The model's entry: the catalog, a local ``config.json``, or the Hub (``HF_HUB_OFFLINE``
    and ``HF_TOKEN`` read here, once; pass ``reach`` to share what was learnt with later
    calls). Every surface resolves a spec's model through this."""
    return hub.resolve_model(
        name,
        catalog=models.ModelCatalog.load(),
        token=os.environ.get("HF_TOKEN"),
        config_file=config,
        reach=reach or hub.Reach.from_env(),
    )


def plan(
    request: DeploymentSpec,
    model: ModelEntry,
    *,
    options: base.Options | None = None,
    facts: ClusterFacts | None = None,
    runtimes: registry.Registry | None = None,
    prices: Mapping[str, float] | None = None,
) -> tuple[base.Runtime, Plan]:
    """The plan with its runtime chosen (or the pinned one checked) and explained.

    A pinned runtime that provisions its own nodes (KAITO on Azure) narrows the machines the
    planner may buy to those it can provision, so the plan is one it can serve. ``prices``:
    the user's own $/GPU-hour per GPU (the server's settings), used where the spec pins none.
    """
    known = runtimes or registry.default()
    provisions = None
    if request.runtime:
        provisions = getattr(known.get(request.runtime), "provisions", None)
    raw = planner.plan(
        request,
        model,
        gpus=gpus.load(),
        instances=instances.load().with_own_prices(prices) if prices else instances.load(),
        facts=facts,
        provisions=provisions,
    )
    chosen = options or base.Options.from_spec(request)
    return choosing.choose(raw, chosen, registry=known, facts=facts)


def render(
    request: DeploymentSpec,
    model: ModelEntry,
    *,
    options: base.Options | None = None,
    facts: ClusterFacts | None = None,
    runtimes: registry.Registry | None = None,
    prices: Mapping[str, float] | None = None,
) -> Result:
    """Plan and render ``request``; the serving options are the spec's unless given.

    The root also carries ``request`` itself (``identity.SPEC``), so an update can merge its
    changes onto what the deployment was made from.
    """
    serving = options or base.Options.from_spec(request)
    runtime, chosen = plan(
        request, model, options=serving, facts=facts, runtimes=runtimes, prices=prices
    )
    rendered = runtime.render(chosen, serving)
    rendered = dataclasses.replace(
        rendered, manifests=tuple(identity.with_spec(rendered.manifests, request))
    )
    return Result(plan=chosen, rendered=rendered, options=serving)


def check(
    result: Result, *, facts: ClusterFacts | None = None, schemas: Schemas | None = None
) -> list[Finding]:
    """The same checks ``kubefoundry check`` runs on anyone's YAML, on what we rendered."""
    from kubefoundry.checks import checking
    from kubefoundry.checks.schemas import Schemas

    return checking.check(result.rendered.manifests, schemas=schemas or Schemas.load(), facts=facts)


def write(result: Result, *, fmt: export.Format, directory: Path, force: bool) -> list[Path]:
    """Write the objects for GitOps (``yaml``, ``helm`` or ``kustomize``) into ``directory``."""
    from kubefoundry.runtimes import export

    return export.write_rendered(
        result.rendered, result.plan, result.options, fmt=fmt, directory=directory, overwrite=force
    )
