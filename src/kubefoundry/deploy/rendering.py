"""Plan a request, pick its runtime and render the objects: the pure half of a deploy.

``cli``, ``api`` and a future in-cluster operator all call this one function, so a file in
Git, a click in the UI and ``kubefoundry render`` produce the same objects.
"""

from __future__ import annotations

import dataclasses

from kubefoundry.catalog import gpus, instances
from kubefoundry.catalog.models import ModelEntry
from kubefoundry.core.facts import ClusterFacts
from kubefoundry.planning import planner
from kubefoundry.planning.plans import Plan
from kubefoundry.planning.request import DeploymentRequest
from kubefoundry.runtimes import base, choosing, registry


@dataclasses.dataclass(frozen=True)
class Result:
    plan: Plan  # with the runtime decision recorded
    rendered: base.Rendered


def plan(
    request: DeploymentRequest,
    model: ModelEntry,
    *,
    options: base.Options,
    facts: ClusterFacts | None = None,
    runtimes: registry.Registry | None = None,
) -> tuple[base.Runtime, Plan]:
    """The plan with its runtime chosen (or the pinned one checked) and explained."""
    raw = planner.plan(request, model, gpus=gpus.load(), instances=instances.load(), facts=facts)
    return choosing.choose(raw, options, registry=runtimes or registry.default(), facts=facts)


def render(
    request: DeploymentRequest,
    model: ModelEntry,
    *,
    options: base.Options,
    facts: ClusterFacts | None = None,
    runtimes: registry.Registry | None = None,
) -> Result:
    runtime, chosen = plan(request, model, options=options, facts=facts, runtimes=runtimes)
    return Result(plan=chosen, rendered=runtime.render(chosen, options))
