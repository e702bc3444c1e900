"""Read ``shared/data/vllm-memory-calibration.csv`` into typed observations and score the model.

The CSV is collected from public vLLM logs, so its cells are messy ("0.9 (default)",
"4 (from title '4 A100')", "fp16 (AWQ)"). Each row becomes an :class:`Observation` with the
settings vLLM ran with; rows we cannot read (no architecture, no GPU size, no settings) are
skipped with the reason, never guessed.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import statistics
from collections.abc import Callable, Iterable
from pathlib import Path

from kubefoundry.catalog.architecture import ModelArch, Quantization, from_hf_config
from kubefoundry.planning import memory

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("KUBEFOUNDRY_SHARED", REPO.parent / "shared"))
CSV_PATH = SHARED / "data" / "vllm-memory-calibration.csv"
CONFIGS = SHARED / "data" / "hf-configs"

# Total memory CUDA reports, for rows that name the GPU but not its visible memory
# (values from the same CSV's other rows and shared/data/README.md).
_GPU_TOTAL_GIB = {
    "h200": 139.81,
    "h100": 79.18,
    "a100-80": 79.15,
    "a100-40": 39.38,
    "l40s": 44.42,
    "l4": 22.03,
    "t4": 14.56,
}


@dataclasses.dataclass(frozen=True)
class Observation:
    row_id: str
    model_id: str
    arch: ModelArch
    inputs: memory.MemoryInputs
    weights_gib: float | None
    kv_tokens: int | None


def _number(cell: str) -> float | None:
    match = re.match(r"\s*~?(-?\d+(?:\.\d+)?)", cell or "")
    return float(match[1]) if match else None


def _gpu_total(row: dict[str, str]) -> float | None:
    visible = _number(row["gpu_mem_visible_gib"])
    if visible:
        return visible
    name = row["gpu"].lower()
    mib = re.search(r"\((\d{4,6}) mib\)", name)
    if mib:
        return int(mib[1]) / 1024
    for key, total in _GPU_TOTAL_GIB.items():
        parts = key.split("-")
        if all(p in name for p in parts):
            return total
    return None


def _quantization(row: dict[str, str]) -> Quantization | None:
    text = (row["quantization"] + " " + row["model_id"]).lower()
    if not row["quantization"].strip():
        return None
    if "mxfp4" in text:
        return Quantization("mxfp4", 4, 32)
    if "awq" in text:
        return Quantization("awq", 4, 128)
    if "w4a16" in text:
        return Quantization("w4a16", 4, 128)
    if "w8a8" in text or "int8" in text:
        return Quantization("w8a8", 8)
    return Quantization("fp8", 8)


def _dtype(row: dict[str, str]) -> str:
    text = row["dtype"].lower()
    if "fp32" in text:
        return "fp32"
    if text.startswith("fp16"):
        return "fp16"
    return "bf16"


def _pp(row: dict[str, str]) -> int:
    noted = re.search(r"pipeline_parallel=(\d+)", row["notes"])
    return int(noted[1]) if noted else int(_number(row["pp"]) or 1)


def _arch(row: dict[str, str], lookup: Callable[[str], ModelArch | None]) -> ModelArch | None:
    if row["config_file"]:
        path = CONFIGS / row["config_file"]
        if path.exists():
            return from_hf_config(json.loads(path.read_text()))
    return lookup(row["model_id"].split(" ")[0])


def load(
    lookup: Callable[[str], ModelArch | None] = lambda _: None, path: Path = CSV_PATH
) -> tuple[list[Observation], list[tuple[str, str]]]:
    """Observations we can score, and (row_id, why) for the rows we skip."""
    used: list[Observation] = []
    skipped: list[tuple[str, str]] = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            arch = _arch(row, lookup)
            total = _gpu_total(row)
            util = _number(row["gpu_memory_utilization"])
            length = _number(row["max_model_len"])
            tp = _number(row["tp"])
            if arch is None:
                skipped.append((row["row_id"], "no config.json for this model"))
                continue
            if not (total and util and tp):
                skipped.append((row["row_id"], "GPU memory, utilisation or TP not stated"))
                continue
            kv_dtype: memory.KvCacheDtype = (
                "fp8" if row["kv_cache_dtype"].strip() == "fp8" else "auto"
            )
            inputs = memory.MemoryInputs(
                gpu_total_gib=total,
                tp=int(tp),
                pp=_pp(row),
                gpu_memory_utilization=util,
                max_model_len=int(length or min(arch.max_position_embeddings, 8192)),
                dtype=_dtype(row),
                quantization=_quantization(row),
                kv_cache_dtype=kv_dtype,
                vllm_version=row["vllm_version"] if _number(row["vllm_version"]) else "0.7.0",
                block_size=int(_number(row["block_size"]) or 16),
                gpu_name=row["gpu"],
            )
            weights = _number(row["weights_gib"])
            tokens = _number(row["kv_tokens"])
            if "weights+non-torch" in row["weights_gib"]:
                weights = None
            used.append(
                Observation(
                    row["row_id"],
                    row["model_id"],
                    arch,
                    inputs,
                    weights,
                    int(tokens) if tokens and tokens > 0 else None,
                )
            )
    return used, skipped


@dataclasses.dataclass(frozen=True)
class Score:
    row_id: str
    model_id: str
    family: str
    metric: str
    observed: float
    predicted: float

    @property
    def abs_pct_error(self) -> float:
        return abs(self.predicted - self.observed) / abs(self.observed) * 100


def score(observations: Iterable[Observation]) -> list[Score]:
    scores: list[Score] = []
    for obs in observations:
        est = memory.estimate(obs.arch, obs.inputs)
        family = obs.arch.attention_family
        if obs.weights_gib:
            scores.append(
                Score(obs.row_id, obs.model_id, family, "weights", obs.weights_gib, est.weights_gib)
            )
        if obs.kv_tokens:
            scores.append(
                Score(obs.row_id, obs.model_id, family, "kv_tokens", obs.kv_tokens, est.kv_tokens)
            )
    return scores


def summary(scores: Iterable[Score]) -> dict[str, float]:
    errors = sorted(s.abs_pct_error for s in scores)
    if not errors:
        return {"n": 0, "median": float("nan"), "p90": float("nan")}
    p90 = errors[min(len(errors) - 1, round(0.9 * (len(errors) - 1)))]
    return {"n": len(errors), "median": statistics.median(errors), "p90": p90}
