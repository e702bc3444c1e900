"""The web pages, server side: each page against the function it calls, through the real
FastAPI application in process (Starlette's test client)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.support.rendering import CANARY

from kubefoundry.api.app import create_app
from kubefoundry.catalog import models
from kubefoundry.core.spec import DeploymentSpec, WorkloadSpec
from kubefoundry.deploy import rendering
from kubefoundry.planning.plans import Plan
from kubefoundry.web import cards

REPO = Path(__file__).resolve().parents[2]
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c


def _get(client: TestClient, url: str, status: int = 200) -> str:
    answer = client.get(url)
    assert answer.status_code == status, answer.text[:500]
    assert answer.headers["content-type"].startswith("text/html")
    return answer.text


def _cards(page: str) -> dict[str, str]:
    """Each tier card's HTML, by tier."""
    found = re.findall(
        r'<article class="card" aria-labelledby="tier-(\w+)">(.*?)</article>', page, re.S
    )
    return dict(found)


def _planned(tier: str, workload: WorkloadSpec | None = None) -> Plan:
    spec = DeploymentSpec(model=LLAMA, tier=tier, workload=workload or WorkloadSpec())  # type: ignore[arg-type]
    return rendering.plan(spec, models.ModelCatalog.load().get(LLAMA))[1]


def _figures(plan: Plan) -> list[str]:
    """What a card says about ``plan``, as the page words it."""
    c, perf = plan.cost, plan.performance
    assert perf is not None
    return [
        f"{plan.gpu_count} × {plan.gpu} per replica × {plan.replicas} replica",
        f"{c.nodes} × {c.instance_type}",
        f"{cards.number(plan.max_model_len)} tokens",
        cards.money(c.usd_per_hour_total),
        cards.money(c.usd_per_million_input_tokens_busy, 4),
        cards.money(c.usd_per_million_output_tokens_busy, 4),
        f"{cards.number(perf.output_tokens_per_s, 1)} per replica",
        f"{cards.number(perf.ttft_ms)} ms",
        f"{cards.number(perf.tpot_ms, 1)} ms",
        f"{plan.runtime} ({plan.engine}",
    ]


def test_the_catalog_lists_every_model_and_filters(client: TestClient) -> None:
    every = _get(client, "/")
    total = len(models.ModelCatalog.load().all())
    assert f"{total} of {total} models" in every
    assert '<label for="q">Search</label>' in every
    llama = _get(client, "/?q=llama-3.1")
    assert f'href="/models/{LLAMA}"' in llama
    assert "Qwen" not in llama
    small = _get(client, "/?family=qwen&max_params_b=9&gated=no")
    shown = re.findall(r'href="/models/([^"]+)"', small)
    assert shown
    assert all(models.ModelCatalog.load().get(m).family == "qwen" for m in shown)
    assert "Qwen/Qwen2.5-72B-Instruct" not in shown
    gated = re.findall(r'href="/models/([^"]+)"', _get(client, "/?gated=yes"))
    assert gated
    assert all(models.ModelCatalog.load().get(m).gated for m in gated)


def test_a_size_that_is_not_a_number_is_said_next_to_its_input(client: TestClient) -> None:
    page = _get(client, "/?max_params_b=lots", 422)
    assert 'id="max_params_b-error"' in page
    assert 'aria-invalid="true"' in page


def test_the_model_page_shows_the_planners_three_tiers(client: TestClient) -> None:
    shown = _cards(_get(client, "/models/llama-3.1-8b"))
    assert list(shown) == ["good", "better", "best"]
    for tier, html in shown.items():
        plan = _planned(tier)
        for figure in _figures(plan):
            assert figure in html, (tier, figure)
        gpu = next(d for d in plan.decisions if d.topic == "gpu")
        assert gpu.alternatives[0].option in html
        assert f"/models/{LLAMA}/render?tier={tier}" in html


def test_the_workload_selector_replans_the_cards(client: TestClient) -> None:
    chat = _cards(_get(client, "/models/llama-3.1-8b"))
    rag = _cards(_get(client, "/models/llama-3.1-8b?profile=rag&rps=20"))
    assert rag != chat
    for tier, html in rag.items():
        plan = _planned(tier, WorkloadSpec(profile="rag", requests_per_s=20))
        assert plan.performance is not None
        assert plan.performance.workload.startswith("rag:")
        for figure in _figures(plan):
            assert figure in html, (tier, figure)
        assert "profile=rag&amp;rps=20" in html  # the YAML preview keeps the workload


def test_a_bad_rate_is_said_next_to_its_input(client: TestClient) -> None:
    page = _get(client, "/models/llama-3.1-8b?rps=-3", 422)
    assert re.search(r'id="rps-error">[^<]*greater than 0', page)
    assert not _cards(page)


def test_an_unknown_model_is_a_404_with_close_names(client: TestClient) -> None:
    page = _get(client, "/models/lama-3.1-8b", 404)
    assert 'href="/models/llama-3.1-8b"' in page
    _get(client, "/models/lama-3.1-8b/render", 404)


def test_a_misfit_shows_its_message_and_the_fixes_that_plan(client: TestClient) -> None:
    page = _get(client, "/models/llama-3.1-405b?gpu=T4")
    shown = _cards(page)
    assert list(shown) == ["good", "better", "best"]
    for html in shown.values():
        assert "does not fit on" in html
        fix = re.search(r'<a href="(/models/[^"]+\?gpu=[^"]+)">gpu ', html)
        assert fix, html
        after = _cards(_get(client, fix.group(1).replace("&amp;", "&")))
        assert any('class="big"' in h for h in after.values())  # the fix plans


def test_an_unknown_gpu_pin_is_said_next_to_the_gpu_input(client: TestClient) -> None:
    page = _get(client, "/models/llama-3.1-8b?gpu=Z9", 422)
    assert re.search(r'id="gpu-error">Unknown GPU', page)


def test_the_render_page_has_the_yaml_and_the_findings(client: TestClient) -> None:
    page = _get(client, "/models/llama-3.1-8b/render?tier=good&profile=rag")
    spec = DeploymentSpec(model=LLAMA, tier="good", workload=WorkloadSpec(profile="rag"))
    result = rendering.render(spec, models.ModelCatalog.load().get(LLAMA))
    assert "<pre" in page
    for m in result.rendered.manifests:
        assert f"kind: {m['kind']}" in page
        assert f"name: {m['metadata']['name']}" in page
    findings = rendering.check(result)
    assert ("No findings" in page) == (not findings)
    for f in findings:
        assert f.rule in page
    misfit = _get(client, "/models/llama-3.1-405b/render?tier=good&gpu=T4", 422)
    assert "does not fit" in misfit
    assert "Fixes that plan" in misfit


def test_no_page_carries_the_token(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", CANARY)
    pages = [
        "/",
        "/models/llama-3.1-8b",
        "/models/llama-3.1-8b?profile=agent&rps=3",
        "/models/llama-3.1-8b/render?tier=best",
        "/models/llama-3.1-405b?gpu=T4",
        "/models/lama-3.1-8b",
    ]
    for url in pages:
        answer = client.get(url)
        assert CANARY not in answer.text, url
    rendered = client.get("/models/llama-3.1-8b/render").text
    assert re.search(r"secretKeyRef:\s+name: \S+-hf-token", rendered)  # named, never valued


def test_the_stylesheet_is_served_with_both_colour_schemes(client: TestClient) -> None:
    css = client.get("/static/style.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "prefers-color-scheme: dark" in css.text
    assert ":focus-visible" in css.text


def test_the_wheel_ships_the_templates_and_the_stylesheet(tmp_path: Path) -> None:
    env = os.environ | {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    build = [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation"]
    built = subprocess.run(
        [*build, "-q", "-w", str(tmp_path)], capture_output=True, text=True, env=env
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("kubefoundry-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    here = REPO / "src" / "kubefoundry" / "web"
    for folder in ("templates", "static"):
        for path in (here / folder).iterdir():
            assert f"kubefoundry/web/{folder}/{path.name}" in names
