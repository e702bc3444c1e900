"""The instance catalog: every row is sane, cheapest() picks right, clouds and on-prem."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from kubefoundry.catalog import gpus, instances
from kubefoundry.core.errors import InvalidInputError, KubeFoundryError, NotFoundError

CATALOG = instances.load()
GPUS = gpus.load()
REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
DATA = resources.files("kubefoundry.catalog").joinpath("data")


@pytest.mark.parametrize("instance", CATALOG.all(), ids=lambda i: f"{i.cloud}:{i.name}")
def test_every_instance_row_is_sane(instance: instances.InstanceType) -> None:
    assert GPUS.get(instance.gpu_id).id == instance.gpu_id
    assert instance.cloud in ("aws", "azure", "gcp")
    assert instance.region
    assert instance.gpu_count >= 1
    assert instance.spec_source
    if instance.usd_per_hour is None:
        assert instance.notes, "a missing price must say why"
    else:
        assert instance.usd_per_hour > 0
        assert instance.price_source
        if instance.price_as_of is None:
            assert instance.name in CATALOG.undated_prices
        else:
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", instance.price_as_of)
    if instance.alt_usd_per_hour is not None:
        assert instance.alt_usd_per_hour > 0
        assert instance.alt_price_source
    for value in (instance.vcpus, instance.ram_gib, instance.gpu_mem_mib_reported):
        assert value is None or value > 0


def test_instance_names_are_unique_and_every_gpu_model_resolves() -> None:
    names = [i.name for i in CATALOG.all()]
    assert len(names) == len(set(names)) == 83
    raw = DATA.joinpath("cloud-gpu-instances.csv").read_text("utf-8").splitlines()[1:]
    models = {line.split(",")[3] for line in raw}
    assert {GPUS.get(m).id for m in models} == {i.gpu_id for i in CATALOG.all()}


def test_meta_describes_the_csv() -> None:
    meta = json.loads(DATA.joinpath("instances.meta.json").read_text("utf-8"))
    csv_bytes = DATA.joinpath(meta["file"]).read_bytes()
    assert meta["schema_version"] == instances.SCHEMA_VERSION == 1
    assert meta["sha256"] == hashlib.sha256(csv_bytes).hexdigest()
    assert meta["rows"] == len(CATALOG.all())
    assert all(s["where"] and s["as_of"] for s in meta["sources"])


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="no shared data beside the repository")
def test_package_data_matches_the_shared_data() -> None:
    script = REPO / "scripts" / "refresh_hardware_data.py"
    done = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("gpu", "count", "cloud", "name", "price"),
    [
        ("H100", 1, "aws", "p5.4xlarge", 6.88),
        ("H100", 8, "aws", "p5.48xlarge", 55.04),
        ("H100", 2, "aws", "p5.48xlarge", 55.04),  # no 2-GPU p5: next size up
        ("H100", 1, None, "p5.4xlarge", 6.88),
        ("H100", 8, "gcp", "a3-highgpu-8g", 88.49),
        ("H100-80GB-SXM", 4, "azure", "Standard_ND96isr_H100_v5", 98.32),
        ("L4", 1, "gcp", "g2-standard-4", 0.70683),
        ("L4", 2, "gcp", "g2-standard-24", 2.00083),
        ("L4", 3, "gcp", "g2-standard-48", 4.00167),
        ("H200", 8, "aws", "p5en.48xlarge", 63.296),  # p5e has no on-demand price
        ("T4", 1, None, "g4dn.xlarge", 0.526),  # ties Azure's NC4as_T4_v3; aws sorts first
        ("A100-40GB", 16, "gcp", "a2-megagpu-16g", 55.7395),
        ("H100 NVL", 2, "azure", "Standard_NC80adis_H100_v5", 13.96),
    ],
)
def test_cheapest(gpu: str, count: int, cloud: str | None, name: str, price: float) -> None:
    chosen = CATALOG.cheapest(gpu, gpu_count=count, cloud=cloud)
    assert chosen is not None
    assert (chosen.name, chosen.usd_per_hour) == (name, price)
    assert chosen.gpu_count >= count


@pytest.mark.parametrize(
    ("gpu", "count", "cloud"),
    [
        ("H100", 16, None),  # more than one node holds: the planner splits across nodes
        ("H100-PCIe", 1, None),  # no cloud offers it here
        ("Gaudi2", 1, None),
        ("L40S", 1, "gcp"),
    ],
)
def test_cheapest_is_none_without_a_priced_fit(gpu: str, count: int, cloud: str | None) -> None:
    assert CATALOG.cheapest(gpu, gpu_count=count, cloud=cloud) is None


def test_cheapest_rejects_zero_gpus() -> None:
    with pytest.raises(InvalidInputError):
        CATALOG.cheapest("H100", gpu_count=0)


def test_for_gpu_filters_and_orders() -> None:
    rows = CATALOG.for_gpu("H200")
    assert {i.cloud for i in rows} == {"aws", "azure", "gcp"}
    aws = CATALOG.for_gpu("h200", "aws")
    assert [i.name for i in aws] == ["p5en.48xlarge", "p5e.48xlarge"]  # priced first
    counts = [i.gpu_count for i in CATALOG.for_gpu("L4", "gcp")]
    assert counts == sorted(counts)
    assert CATALOG.for_gpu("B200", "gcp") == ()


@pytest.mark.parametrize(
    ("gpu", "cloud", "expected"),
    [
        ("H100", "aws", 6.88),
        ("H100", "gcp", 11.06125),
        ("L4", None, 0.70683),
        ("H200", "azure", 10.6),
        ("T4", "gcp", 0.54),
        ("Gaudi3", None, None),
    ],
)
def test_usd_per_gpu_hour(gpu: str, cloud: str | None, expected: float | None) -> None:
    got = CATALOG.usd_per_gpu_hour(gpu, cloud)
    assert got == (None if expected is None else pytest.approx(expected))


def test_clouds() -> None:
    assert CATALOG.clouds() == ("aws", "azure", "gcp")
    assert CATALOG.resolve_cloud("GCP") == "gcp"


@pytest.mark.parametrize(
    ("typo", "suggestion"), [("asw", "aws"), ("azrue", "azure"), ("gpc", "gcp")]
)
def test_cloud_typo_suggests(typo: str, suggestion: str) -> None:
    with pytest.raises(NotFoundError) as raised:
        CATALOG.for_gpu("H100", typo)
    assert raised.value.kind == "cloud"
    assert suggestion in raised.value.suggestions


def test_onprem_as_a_cloud_points_to_onprem() -> None:
    with pytest.raises(NotFoundError) as raised:
        CATALOG.cheapest("H100", gpu_count=1, cloud="onprem")
    assert raised.value.hint is not None
    assert "onprem" in raised.value.hint


def test_unknown_gpu_in_queries_suggests() -> None:
    with pytest.raises(NotFoundError) as raised:
        CATALOG.cheapest("H1000", gpu_count=1)
    assert raised.value.kind == "GPU"
    assert raised.value.suggestions


def test_get_instance_by_name() -> None:
    assert CATALOG.get("P5.48XLARGE").gpu_count == 8
    with pytest.raises(NotFoundError) as raised:
        CATALOG.get("p5.48xlarg")
    assert "p5.48xlarge" in raised.value.suggestions


def test_onprem_makes_a_priced_node_type() -> None:
    node = instances.onprem("H100", usd_per_gpu_hour=2.5, gpus_per_node=8)
    assert node.cloud == "onprem"
    assert node.gpu_id == "H100-80GB-SXM"
    assert node.gpu_count == 8
    assert node.usd_per_hour == pytest.approx(20.0)
    assert node.usd_per_gpu_hour == pytest.approx(2.5)
    assert node.price_source == "user-supplied $/GPU-hour"
    free = instances.onprem("L40S", usd_per_gpu_hour=0, gpus_per_node=4)
    assert free.usd_per_hour == 0


@pytest.mark.parametrize(
    ("price", "per_node"), [(-1.0, 8), (2.0, 0)], ids=["negative-price", "no-gpus"]
)
def test_onprem_rejects_bad_input(price: float, per_node: int) -> None:
    with pytest.raises(InvalidInputError):
        instances.onprem("H100", usd_per_gpu_hour=price, gpus_per_node=per_node)


def test_onprem_unknown_gpu_suggests() -> None:
    with pytest.raises(NotFoundError, match="Did you mean"):
        instances.onprem("L40", usd_per_gpu_hour=1.0, gpus_per_node=1)


def test_parse_rejects_a_row_with_an_unknown_gpu() -> None:
    meta = json.loads(DATA.joinpath("instances.meta.json").read_text("utf-8"))
    text = DATA.joinpath(meta["file"]).read_text("utf-8")
    broken = text.replace(",H100-80GB-SXM,1,", ",X999,1,", 1)
    with pytest.raises(KubeFoundryError, match="X999"):
        instances.parse(broken, meta, gpu_catalog=GPUS)


def test_parse_rejects_changed_columns() -> None:
    meta = json.loads(DATA.joinpath("instances.meta.json").read_text("utf-8"))
    text = DATA.joinpath(meta["file"]).read_text("utf-8").replace("vcpus", "cpus", 1)
    with pytest.raises(KubeFoundryError, match="columns"):
        instances.parse(text, meta, gpu_catalog=GPUS)


def test_load_reads_once() -> None:
    assert instances.load() is instances.load()
    assert CATALOG.gpu_catalog is GPUS
