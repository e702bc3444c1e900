"""Refresh the hardware catalog's package data from ``../shared/data``.

Facts (GPU specs, instance specs and prices) come from the shared data files; the fields we
curate (``cuda_total_gib``, aliases, node labels, platforms, notes, price-source notes) live
only in the package files and are kept as they are. Run from anywhere:

    python scripts/refresh_hardware_data.py           # rewrite what is out of date
    python scripts/refresh_hardware_data.py --check   # exit 1 if anything is out of date

A GPU that is new in the shared data stops the refresh until its curated fields are added
to ``src/kubefoundry/catalog/data/gpus.json`` by hand. This script is not on the import
path: the package reads its data files and never imports this.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import io
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "src" / "kubefoundry" / "catalog" / "data"
DEFAULT_SHARED = REPO.parent / "shared" / "data"

GPUS_JSON = "gpus.json"
INSTANCES_CSV = "cloud-gpu-instances.csv"
INSTANCES_META = "instances.meta.json"

# Copied from the shared file on every refresh.
FACT_KEYS = (
    "id",
    "vendor",
    "name",
    "architecture",
    "form_factor",
    "memory_gb",
    "memory_type",
    "memory_bandwidth_gbps",
    "bf16_dense_tflops",
    "fp16_dense_tflops",
    "fp8_dense_tflops",
    "fp8_supported",
    "int8_dense_tops",
    "interconnect",
    "nvlink_gbps_bidirectional",
    "confidence",
    "sources",
)
# Ours: kept from the package file.
CURATED_KEYS = (
    "bf16_supported",
    "compute_capability",
    "resource_name",
    "cuda_total_gib",
    "cuda_total_basis",
    "cuda_total_source",
    "aliases",
    "node_labels",
    "label_variants",
    "notes",
)
# shared label field -> our platform, for the consistency warnings.
SHARED_LABELS = {
    "gfd_product": "gfd",
    "gke_accelerator": "gke",
    "karpenter_aws_gpu_name": "eks",
    "karpenter_azure_sku_gpu_name": "aks-nap",
}
CSV_COLUMNS = (
    "cloud",
    "region",
    "instance_type",
    "gpu_model",
    "gpu_count",
    "gpu_mem_mib_reported",
    "vcpus",
    "ram_gib",
    "ondemand_usd_per_hour",
    "price_source",
    "price_as_of",
    "alt_price_usd_per_hour",
    "alt_price_source",
    "spec_source",
    "notes",
)
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _render(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def merge_gpus(shared: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The package GPU document with facts from ``shared`` and curated fields kept."""
    curated = {g["id"]: g for g in current["gpus"]}
    shared_ids = [g["id"] for g in shared["gpus"]]
    new = [i for i in shared_ids if i not in curated]
    gone = sorted(set(curated) - set(shared_ids))
    if new:
        raise SystemExit(
            f"New GPUs in the shared data: {', '.join(new)}. Add their curated fields "
            f"({', '.join(CURATED_KEYS)}) to {DATA / GPUS_JSON} first."
        )
    if gone:
        raise SystemExit(f"GPUs no longer in the shared data: {', '.join(gone)}. Remove them.")
    gpus = []
    for shared_gpu in shared["gpus"]:
        entry = {key: shared_gpu[key] for key in FACT_KEYS}
        entry.update({key: curated[shared_gpu["id"]][key] for key in CURATED_KEYS})
        gpus.append(entry)
    return {**current, "gpus": gpus}


def label_warnings(shared: dict[str, Any], merged: dict[str, Any]) -> list[str]:
    """Clean label values in the shared data that our curated labels do not carry."""
    ours = {g["id"]: g for g in merged["gpus"]}
    warnings = []
    for shared_gpu in shared["gpus"]:
        gpu = ours[shared_gpu["id"]]
        for field, platform in SHARED_LABELS.items():
            value = (shared_gpu.get("labels") or {}).get(field)
            if not value or not _LABEL_VALUE.match(value):
                continue  # absent, or prose that was cleaned up by hand
            known = set((gpu["node_labels"].get(platform) or {}).values())
            known |= set(gpu["label_variants"].get(platform, []))
            if value not in known:
                warnings.append(f"{gpu['id']}: shared {field}={value!r} is not in {platform}")
    return warnings


def instance_meta(csv_bytes: bytes, current: dict[str, Any], gpu_ids: set[str]) -> dict[str, Any]:
    """The metadata document for the instance CSV, after checking its shape."""
    reader = csv.DictReader(io.StringIO(csv_bytes.decode("utf-8")))
    if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
        raise SystemExit(f"{INSTANCES_CSV}: columns changed to {reader.fieldnames}")
    rows = list(reader)
    unknown = sorted({r["gpu_model"] for r in rows} - gpu_ids)
    if unknown:
        raise SystemExit(f"{INSTANCES_CSV}: gpu_model not in {GPUS_JSON}: {', '.join(unknown)}")
    return {
        **current,
        "rows": len(rows),
        "sha256": hashlib.sha256(csv_bytes).hexdigest(),
        "columns": list(CSV_COLUMNS),
    }


def build(shared_dir: Path) -> dict[Path, bytes]:
    """Every package data file as it should be, keyed by path."""
    shared = _read_json(shared_dir / GPUS_JSON)
    merged = merge_gpus(shared, _read_json(DATA / GPUS_JSON))
    for warning in label_warnings(shared, merged):
        print(f"warning: {warning}", file=sys.stderr)
    csv_bytes = (shared_dir / INSTANCES_CSV).read_bytes()
    gpu_ids = {g["id"] for g in merged["gpus"]}
    meta = instance_meta(csv_bytes, _read_json(DATA / INSTANCES_META), gpu_ids)
    return {
        DATA / GPUS_JSON: _render(merged),
        DATA / INSTANCES_CSV: csv_bytes,
        DATA / INSTANCES_META: _render(meta),
    }


def _undated(content: bytes, path: Path) -> bytes:
    """The content with ``generated_on`` blanked, so a new date alone is not a change."""
    if path.suffix != ".json":
        return content
    doc = json.loads(content)
    doc["generated_on"] = ""
    return _render(doc)


def stale_files(wanted: dict[Path, bytes]) -> list[Path]:
    return [
        path
        for path, content in wanted.items()
        if not path.exists() or _undated(path.read_bytes(), path) != _undated(content, path)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="shared data dir")
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    if not (args.shared / GPUS_JSON).is_file():
        print(f"no {GPUS_JSON} in {args.shared}; pass --shared DIR", file=sys.stderr)
        return 2
    wanted = build(args.shared)
    stale = stale_files(wanted)
    for path in stale:
        print(f"{'stale' if args.check else 'updated'}: {path.relative_to(REPO)}")
        if not args.check:
            content = wanted[path]
            if path.suffix == ".json":
                doc = json.loads(content)
                doc["generated_on"] = datetime.date.today().isoformat()
                content = _render(doc)
            path.write_bytes(content)
    if not stale:
        print("package hardware data is up to date")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
