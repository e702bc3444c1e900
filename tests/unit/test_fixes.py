"""Every fix a misfit offers plans, when applied the way the command line applies it.

The property: for every catalog model × every catalog GPU pinned with a count that does not
fit × every tier, the error's hint either offers fixes, each of which plans once its flags are
appended to the command line (parsed by the real ``plan`` command, so later flags win as they
do for a user), or says plainly that no fix exists. The count pinned is the one just below
the fewest GPUs that fit (too few); when one GPU already fits, 64 (more than a replica can
have); when nothing fits, one. Combinations where even 64 GPUs plan have no misfit to test.

The full product is covered (41 models × 17 GPUs × 3 tiers). To keep it within CI's time on
two cores, two pure functions are remembered across cases: the memory estimate and one
planning pass (``planner.attempt``), which the fix search calls for the same changed requests
over and over (dropping a GPU pin gives the same request whichever GPU was pinned). Each fix
is then checked with a fresh, uncached planning pass.
"""

from __future__ import annotations

import functools
import re
import shlex
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
import yaml

from kubefoundry.catalog import gpus, instances, models
from kubefoundry.catalog.models import ModelEntry
from kubefoundry.cli import app as cli_app
from kubefoundry.cli import output, requesting
from kubefoundry.core.errors import DoesNotFitError
from kubefoundry.core.spec import DeploymentSpec, load
from kubefoundry.planning import memory, misfits, planner, tiers
from kubefoundry.planning.plans import Plan

CATALOG = models.ModelCatalog.load()
GPUS = gpus.load()
INSTANCES = instances.load()
DOCS = Path(__file__).resolve().parents[2] / "docs" / "planning.md"
COUNTS = (1, 2, 4, 8, 16, 32, 64)
FIX = re.compile(r"(?:^Try: |; or )(--.*?) \(")
UNCACHED_ATTEMPT = planner.attempt


@pytest.fixture(scope="module", autouse=True)
def _remember_pure_functions() -> Iterator[None]:
    estimate = functools.lru_cache(maxsize=200_000)(memory.estimate)

    @functools.lru_cache(maxsize=4096)
    def attempt(request: DeploymentSpec, model_id: str) -> Plan | misfits.Misfit:
        return UNCACHED_ATTEMPT(
            request, CATALOG.get(model_id), gpus=GPUS, instances=INSTANCES, facts=None
        )

    def cached_attempt(
        request: DeploymentSpec, model: ModelEntry, **_: object
    ) -> Plan | misfits.Misfit:
        return attempt(request, model.id)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(memory, "estimate", estimate)
        patch.setattr(planner, "attempt", cached_attempt)
        yield


@functools.cache
def _plan_command() -> typer.core.TyperCommand:
    command = typer.main.get_command(cli_app.app)
    assert isinstance(command, typer.core.TyperGroup)
    plan = command.commands["plan"]
    assert isinstance(plan, typer.core.TyperCommand)
    return plan


def _command_line(args: list[str]) -> DeploymentSpec:
    """The request ``kubefoundry plan ARGS`` builds: the real command's parser and fields."""
    ctx = _plan_command().make_context("plan", list(args))
    return requesting.from_flags(ctx.params.get("file"), ctx.params)


def _plan(request: DeploymentSpec) -> Plan | DoesNotFitError:
    try:
        return planner.plan(request, CATALOG.get(request.model), gpus=GPUS, instances=INSTANCES)
    except DoesNotFitError as exc:
        return exc


def _fixes(error: DoesNotFitError) -> list[list[str]]:
    """The fixes the hint offers, each as the flags the CLI prints for it (the hint itself
    names spec fields; ``output.flags`` is how the command line words them)."""
    return [shlex.split(flags) for flags in FIX.findall(output.flags(error.hint or ""))]


def _plans(args: list[str]) -> bool:
    """Whether the request plans (one planning pass, no fixes searched)."""
    request = _command_line(args)
    model = CATALOG.get(request.model)
    return isinstance(planner.attempt(request, model, gpus=GPUS, instances=INSTANCES), Plan)


def _misfit_args(model: str, gpu: str, tier: str) -> list[str] | None:
    base = [model, "--tier", tier, "--gpu", gpu]
    fewest = next((n for n in COUNTS if _plans([*base, "--gpu-count", str(n)])), None)
    count = 1 if fewest is None else (fewest // 2 if fewest > 1 else COUNTS[-1])
    args = [*base, "--gpu-count", str(count)]
    return None if _plans(args) else args


def _check_misfit(args: list[str]) -> int:
    error = _plan(_command_line(args))
    assert isinstance(error, DoesNotFitError), args
    offered = _fixes(error)
    assert [_as_changes(f) for f in offered] == [dict(f) for f in error.fixes], args
    if not offered:
        assert (error.hint or "").startswith("No fix found:"), (args, error.hint)
        return 0
    assert (error.hint or "").startswith("Try: "), (args, error.hint)
    for flags in offered:
        fixed = _command_line([*args, *flags])
        outcome = UNCACHED_ATTEMPT(
            fixed, CATALOG.get(fixed.model), gpus=GPUS, instances=INSTANCES, facts=None
        )
        assert isinstance(outcome, Plan), f"{' '.join(args)} + {' '.join(flags)} does not plan"
    return len(offered)


def _as_changes(flags: list[str]) -> dict[str, object]:
    pairs = zip(flags[::2], flags[1::2], strict=True)
    return {name.removeprefix("--").replace("-", "_"): _value(v) for name, v in pairs}


def _value(text: str) -> object:
    return int(text) if text.isdigit() else text


@pytest.mark.parametrize("model", [e.id for e in CATALOG.all()])
def test_every_fix_offered_for_a_pinned_gpu_plans(model: str) -> None:
    started = time.perf_counter()
    checked = fixes = 0
    for tier in (t.name for t in tiers.all_tiers()):
        for gpu in GPUS.ids():
            args = _misfit_args(model, gpu, tier)
            if args is None:
                continue
            fixes += _check_misfit(args)
            checked += 1
    assert checked, "no misfit to check"
    print(f"{model}: {checked} misfits, {fixes} fixes, {time.perf_counter() - started:.1f}s")


def test_70b_on_one_l4_ends_at_a_fix_that_works_in_one_step() -> None:
    args = ["llama-3.3-70b", "--gpu", "L4", "--gpu-count", "1"]
    error = _plan(_command_line(args))
    assert isinstance(error, DoesNotFitError)
    offered = _fixes(error)
    assert ["--gpu-count", "8"] in offered  # the fewest L4s alone, not a doubling
    for flags in offered:
        plan = _plan(_command_line([*args, *flags]))
        assert isinstance(plan, Plan), flags
    assert "117.5 GiB short per GPU" in error.message


def test_no_fix_keeps_a_gpu_the_planner_cannot_serve() -> None:
    error = _plan(_command_line(["llama-3.1-8b", "--gpu", "MI300X", "--gpu-count", "1"]))
    assert isinstance(error, DoesNotFitError)
    assert "No fix keeps `gpu` MI300X" in error.message
    assert "AMD GPUs need a runtime image" in error.message
    assert all("--gpu" in flags and "MI300X" not in flags for flags in _fixes(error))


def test_no_fix_keeps_a_gpu_too_small_even_at_its_most() -> None:
    error = _plan(_command_line(["llama-3.1-405b", "--gpu", "T4", "--gpu-count", "1"]))
    assert isinstance(error, DoesNotFitError)
    assert "No fix keeps `gpu` T4: even 32×T4 at 2,048 tokens is" in error.message
    assert _fixes(error)
    assert all("--gpu" in flags for flags in _fixes(error))


def test_the_documented_request_plans_as_written(tmp_path: Path) -> None:
    block = _doc_request_block()
    path = tmp_path / "request.yaml"
    path.write_text(block)
    request = load(path)
    assert request == DeploymentSpec.model_validate(yaml.safe_load(block))
    plan = _plan(request)
    assert isinstance(plan, Plan), plan
    assert (plan.gpu, plan.max_model_len) == ("L40S", request.context_length)


def _doc_request_block() -> str:
    text = DOCS.read_text()
    section = text.split("## Deployment spec", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert match, "docs/planning.md has no request example"
    return match.group(1)


def test_a_long_context_in_a_bf16_kv_cache_gets_fixes_that_plan() -> None:
    """It used to fail and suggest a *longer* context (131072), which failed again.

    One 65,536-token request needs 8.0 GiB of bf16 KV (32 layers × 8 KV heads × 128 × 2 × 2 B
    per token) beside 15 GiB of weights: more than an L4's 19.8 GiB budget.
    """
    args = [
        "llama-3.1-8b",
        "--gpu",
        "L4",
        "--gpu-count",
        "1",
        "--context-length",
        "65536",
        "--kv-cache-dtype",
        "auto",
        "--quantization",
        "none",
    ]
    error = _plan(_command_line(args))
    assert isinstance(error, DoesNotFitError)
    assert "8.0 KV cache for 1 request of 65,536 tokens" in error.message
    offered = _fixes(error)
    assert ["--quantization", "fp8"] in offered
    assert ["--context-length", "16384"] in offered
    contexts = [int(f[f.index("--context-length") + 1]) for f in offered if "--context-length" in f]
    assert all(c < 65536 for c in contexts)
    for flags in offered:
        assert isinstance(_plan(_command_line([*args, *flags])), Plan), flags
