from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("KUBEFOUNDRY_SHARED", REPO.parent / "shared"))
CONFIGS = SHARED / "data" / "hf-configs"


def hf_config(name: str) -> dict[str, Any]:
    """A real config.json copy from shared/data/hf-configs."""
    data: dict[str, Any] = json.loads((CONFIGS / f"{name}.json").read_text())
    return data


@pytest.fixture(autouse=True)
def _offline_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may reach the network: the Hugging Face client runs offline in a temp cache."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    # Settings a server stores without a cluster (GPU prices) go to a temp folder, never ours.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
