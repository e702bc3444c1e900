"""Print how far the speed model is from published serving benchmarks: median and p90 abs % error.

    python bench/perf_accuracy.py

Predicts output tokens/s, mean TTFT and mean TPOT for every usable row of
``shared/data/serving-benchmarks.csv`` with ``planning/speed.py`` and prints them per row,
then overall and by regime (one request; moderate concurrency 2–32; saturation). Targets
(issue 9): median ≤ 15 % and p90 ≤ 35 % for tokens/s, median ≤ 25 % for TTFT and TPOT.
Rows the model cannot take (another engine, no config for the model, lengths not reported)
are listed as skipped with the reason, never guessed.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.table import Table

from bench.calibration import CONFIGS, SHARED
from kubefoundry.catalog import architecture, gpus
from kubefoundry.catalog.architecture import ModelArch
from kubefoundry.core.errors import KubeFoundryError
from kubefoundry.planning import memory, precision, speed

CSV_PATH = SHARED / "data" / "serving-benchmarks.csv"
METRICS = ("tokens/s", "ttft", "tpot")

# Config copies for checkpoints whose own config is not in hf-configs: the same architecture.
_CONFIG_FOR = {
    "qwen/qwen3-235b-a22b-instruct-2507": "Qwen__Qwen3-235B-A22B.json",
    "deepseek-ai/deepseek-r1-0528": "deepseek-ai__DeepSeek-R1.json",
    "meta-llama/meta-llama-3-8b-instruct": "meta-llama__Meta-Llama-3-8B.json",
    "neuralmagic/meta-llama-3.1-8b-instruct-fp8": "meta-llama__Llama-3.1-8B-Instruct.json",
}


@dataclasses.dataclass(frozen=True)
class Row:
    row_id: str
    model: str
    gpu: str
    regime: str
    observed: dict[str, float]
    predicted: dict[str, float]


def _number(cell: str) -> float | None:
    match = re.match(r"\s*~?(\d+(?:\.\d+)?)", cell or "")
    return float(match[1]) if match else None


def _arch(model_id: str) -> ModelArch | None:
    key = model_id.split(" ")[0].lower()
    name = _CONFIG_FOR.get(key, key.replace("/", "__") + ".json")
    for path in CONFIGS.glob("*.json"):
        if path.name.lower() == name.lower():
            return architecture.from_hf_config(json.loads(path.read_text()))
    return None


def _gpu(cell: str) -> gpus.GPU | None:
    catalog = gpus.load()
    text = cell.split(" ")[0]
    for name in (text, text.replace("-SXM", ""), text.rsplit("-", 1)[0]):
        try:
            return catalog.get(name)
        except KubeFoundryError:  # not a known spelling; try the next one
            continue
    return None


def _version(cell: str) -> str:
    """The release the row names; an unnamed one is read as 0.8.0 (the first V1 default)."""
    match = re.search(r"\d+\.\d+(?:\.\d+)?", cell)
    return match[0] if match else "0.8.0"


def _quant(cell: str) -> str:
    cell = cell.lower()
    for method in ("mxfp4", "awq", "fp8"):
        if cell.startswith(method):
            return method
    return "none"


def _load(row: dict[str, str]) -> tuple[str | None, str, tuple[float, float, float] | None]:
    """(regime, concurrency cell, (concurrency, rate, prompts)) or a skip reason as regime None."""
    cell = row["concurrency"]
    counted = re.search(r"(\d+) (?:prompts|at once)", cell)
    prompts = float(counted[1]) if counted else None
    if m := re.search(r"max_concurrency=(\d+)", cell):
        n = float(m[1])
        return ("one request" if n == 1 else "moderate"), cell, (n, 0.0, 0.0)
    if m := re.match(r"concurrency=(\d+)", cell):
        n = float(m[1])
        return ("one request" if n == 1 else "moderate"), cell, (n, 0.0, 0.0)
    if m := re.search(r"request_rate=(\d+(?:\.\d+)?)", cell):
        return "moderate", cell, (0.0, float(m[1]), 0.0)
    if "request_rate=inf" in cell:
        return "saturation", cell, (0.0, 0.0, prompts or 0.0)
    return None, cell, None


def _skip(row: dict[str, str]) -> str | None:
    if not row["engine"].startswith("vLLM"):
        return f"engine {row['engine'].split(' (')[0]} (a ceiling, not vLLM)"
    if _number(row["input_tokens"]) is None or _number(row["output_tokens"]) is None:
        return "mean input/output length not reported"
    if "prefix" in row["input_tokens"]:
        return "prefix-cache workload"
    if "scheduler-steps" in row["engine_version"]:
        return "multi-step scheduling"
    if _arch(row["model_id"]) is None:
        return "no config.json for the model"
    if _gpu(row["gpu"]) is None:
        return "GPU not in the catalog"
    return None


def _predict(row: dict[str, str]) -> Row | str:
    reason = _skip(row)
    if reason:
        return reason
    regime, _, load = _load(row)
    if regime is None or load is None:
        return "load not readable"
    arch, gpu = _arch(row["model_id"]), _gpu(row["gpu"])
    assert arch is not None
    assert gpu is not None
    tp, pp, dp = (int(row[k]) for k in ("tp", "pp", "dp"))
    quant = precision.resolve_quantization(_quant(row["dtype/quantization"]), arch)
    max_len = 32768 if "max-model-len 32768" in row["notes"] else 8192
    max_len = min(max_len, arch.max_position_embeddings)
    inputs = memory.MemoryInputs(
        gpu_total_gib=gpu.cuda_total_gib,
        tp=tp,
        pp=pp,
        gpu_memory_utilization=0.95 if "0.95" in row["notes"] else 0.9,
        max_model_len=max_len,
        dtype=precision.resolve_dtype("auto", arch, bf16_supported=gpu.bf16_supported),
        quantization=quant,
        kv_cache_dtype="fp8" if row["kv_cache_dtype"].startswith("fp8") else "auto",
        vllm_version=_version(row["engine_version"]),
        gpu_name=gpu.id,
    )
    replica = speed.replica(arch, gpu, inputs)
    if re.search(r"\bV0\b", row["engine_version"]):
        # the row says this release fell back to the V0 engine (e.g. PP without Ray in 0.8)
        replica = dataclasses.replace(replica, v1_engine=False)
    work = speed.Workload(
        input_tokens=_number(row["input_tokens"]) or 0.0,
        output_tokens=_number(row["output_tokens"]) or 0.0,
    )
    concurrency, rate, prompts = load
    if concurrency:
        got = speed.at_concurrency(replica, work, concurrency / dp)
    elif rate:
        got = speed.at_rate(replica, work, rate / dp)
    else:
        got = speed.at_max(replica, work, prompts=int(prompts / dp) or None)
    observed = {
        "tokens/s": _number(row["output_tokens_per_s"]),
        "ttft": _number(row["ttft_ms"]),
        "tpot": _number(re.sub(r"^(TPOT|ITL)\s*", "", row["tpot_or_itl_ms"])),
    }
    predicted = {
        "tokens/s": got.output_tokens_per_s * dp,
        "ttft": got.ttft_s * 1e3,
        "tpot": got.tpot_s * 1e3,
    }
    return Row(
        row_id=row["row_id"],
        model=row["model_id"].split(" ")[0],
        gpu=f"{tp * pp * dp}×{gpu.id}",
        regime=regime,
        observed={k: v for k, v in observed.items() if v},
        predicted=predicted,
    )


def _error(row: Row, metric: str) -> float | None:
    seen = row.observed.get(metric)
    if not seen:
        return None
    return abs(row.predicted[metric] - seen) / seen * 100


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def main() -> int:
    console = Console(width=160)
    rows: list[Row] = []
    skipped: list[tuple[str, str]] = []
    with CSV_PATH.open(newline="") as handle:
        for raw in csv.DictReader(handle):
            got = _predict(raw)
            if isinstance(got, str):
                skipped.append((raw["row_id"], got))
            else:
                rows.append(got)
    per_row = Table(title="Per row: observed → predicted (abs % error)")
    for column in ("row", "model", "GPUs", "regime", *METRICS):
        per_row.add_column(column)
    for row in rows:
        cells = []
        for metric in METRICS:
            err = _error(row, metric)
            seen = row.observed.get(metric)
            cells.append(
                "—"
                if err is None or seen is None
                else f"{seen:,.1f} → {row.predicted[metric]:,.1f} ({err:.0f}%)"
            )
        per_row.add_row(row.row_id, row.model[:34], row.gpu, row.regime, *cells)
    console.print(per_row)
    summary = Table(title="Speed model vs published vLLM benchmarks (absolute % error)")
    for column in ("metric", "regime", "rows", "median %", "p90 %"):
        summary.add_column(column)
    for metric in METRICS:
        for regime in ("ALL", "one request", "moderate", "saturation"):
            errors = [
                e
                for r in rows
                if regime in ("ALL", r.regime) and (e := _error(r, metric)) is not None
            ]
            if errors:
                summary.add_row(
                    metric,
                    regime,
                    str(len(errors)),
                    f"{statistics.median(errors):.1f}",
                    f"{_p90(errors):.1f}",
                )
        summary.add_section()
    console.print(summary)
    console.print(
        f"skipped {len(skipped)} rows: " + "; ".join(f"{r} ({why})" for r, why in skipped)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
