"""Any Hugging Face id, not only the curated ones (issue 10: "catalog and search (curated +
any Hugging Face id)"), on the model page and ``GET /api/v1/models/{id}``.

The real ``kubefoundry serve`` process reads the model's ``config.json`` through
huggingface_hub from a Hub cache laid out as huggingface_hub lays it out (``HF_HUB_CACHE``,
offline: no network in tests), holding the config of Qwen2-7B-Instruct, a model outside the
catalog (``examples/config.json``). Its plans come from the planner like a curated model's;
an id the cache does not hold is refused with the surface's own remedy, never a 500.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.browser import serving

from kubefoundry.catalog import models

REPO = Path(__file__).resolve().parents[2]
MODEL = "Qwen/Qwen2-7B-Instruct"


def _hub_cache(root: Path) -> Path:
    """A Hub cache holding MODEL's config.json at one revision, as huggingface_hub stores it."""
    repo = root / "models--Qwen--Qwen2-7B-Instruct"
    revision = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text((REPO / "examples" / "config.json").read_text())
    return root


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_a_hugging_face_id_outside_the_catalog_is_planned_like_a_curated_one(
    tmp_path: Path,
) -> None:
    assert models.ModelCatalog.load().find(MODEL) is None, "the test needs a model outside"
    env = {"HF_HUB_CACHE": str(_hub_cache(tmp_path / "hub")), "HF_HUB_OFFLINE": "1"}
    with serving("--no-cluster", env=env) as url:
        status, body = _get(f"{url}/api/v1/models/{MODEL}")
        assert status == 200, body
        row = json.loads(body)
        assert row["id"] == MODEL
        assert 7.0 < row["params_b"] < 8.0  # Qwen2-7B: 7.6 B parameters from its config
        assert row["fits_on"], "a 7B model fits on some GPU"

        status, page = _get(f"{url}/models/{MODEL}")
        assert status == 200, page
        assert re.findall(r'<h2 id="tier-(\w+)">', page) == ["good", "better", "best"]

        status, body = _get(f"{url}/api/v1/models/some-org/not-cached")
        assert status == 400, body
        refused = json.loads(body)
        assert [r["code"] for r in refused["remedies"]] == ["model_config"]
        assert "--config" not in refused["hint"]
        status, page = _get(f"{url}/models/some-org/not-cached")
        assert status == 400
        assert "Cannot read this model" in page
