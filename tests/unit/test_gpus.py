"""The GPU catalog: every entry is sane, names resolve, selectors and tolerations per platform."""

from __future__ import annotations

import copy
import json
import re
from importlib import resources
from typing import Any

import pytest

from kubefoundry.catalog import gpus
from kubefoundry.core.errors import InvalidInputError, KubeFoundryError, NotFoundError

CATALOG = gpus.load()
ALL_IDS = [g.id for g in CATALOG.all()]

# A label value: at most 63 characters, alphanumeric at both ends, -_. inside.
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# A label key: optional DNS-subdomain prefix and '/', then a name like a value.
LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)


def _raw() -> dict[str, Any]:
    text = resources.files("kubefoundry.catalog").joinpath("data/gpus.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@pytest.mark.parametrize("gpu_id", ALL_IDS)
def test_every_gpu_entry_is_sane(gpu_id: str) -> None:
    gpu = CATALOG.get(gpu_id)
    assert gpu.memory_gb > 0
    assert gpu.memory_bandwidth_gbps > 0
    assert 0.85 * gpu.memory_gb < gpu.cuda_total_gib < gpu.memory_gb
    assert gpu.cuda_total_basis in ("measured", "derived")
    assert gpu.cuda_total_source
    assert gpu.sources
    assert gpu.confidence
    assert (gpu.fp8_dense_tflops is not None) == gpu.fp8_supported
    if gpu.bf16_supported:
        assert gpu.bf16_dense_tflops is not None
    for value in (gpu.bf16_dense_tflops, gpu.fp16_dense_tflops, gpu.fp8_dense_tflops):
        assert value is None or value > 0
    assert gpu.resource_name in ("nvidia.com/gpu", "amd.com/gpu", "habana.ai/gaudi")
    if gpu.vendor == "NVIDIA":
        assert gpu.compute_capability is not None
        assert re.fullmatch(r"\d+\.\d", gpu.compute_capability)
    else:
        assert gpu.compute_capability is None


@pytest.mark.parametrize("gpu_id", ALL_IDS)
def test_every_gpu_label_is_a_well_formed_kubernetes_label(gpu_id: str) -> None:
    gpu = CATALOG.get(gpu_id)
    for platform in gpu.label_platforms:
        selector = gpu.node_selector(platform)
        assert selector
        for key, value in selector.items():
            assert LABEL_KEY.match(key), key
            assert key in CATALOG.platform(platform).label_keys
            assert len(value) <= 63
            assert LABEL_VALUE.match(value), value
    for values in gpu.label_variants.values():
        assert all(len(v) <= 63 and LABEL_VALUE.match(v) for v in values)


@pytest.mark.parametrize("gpu_id", ALL_IDS)
def test_every_id_and_alias_resolves_to_its_gpu(gpu_id: str) -> None:
    gpu = CATALOG.get(gpu_id)
    for name in (gpu.id, *gpu.aliases, gpu.id.lower(), gpu.id.upper()):
        assert CATALOG.get(name) is gpu


@pytest.mark.parametrize(
    ("gpu_id", "expected"),
    [
        ("T4", 14.56),
        ("L4", 22.03),
        ("L40S", 44.42),
        ("A100-40GB-SXM", 39.38),
        ("H100-80GB-SXM", 79.19),
        ("H200-141GB-SXM", 139.81),
    ],
)
def test_measured_cuda_totals_come_from_vllm_logs(gpu_id: str, expected: float) -> None:
    gpu = CATALOG.get(gpu_id)
    assert gpu.cuda_total_gib == expected
    assert gpu.cuda_total_basis == "measured"


@pytest.mark.parametrize(
    ("gpu_id", "expected"),
    [
        ("A100-80GB-SXM", 79.15),
        ("A100-80GB-PCIe", 79.15),
        ("H100-80GB-PCIe", 79.19),
        ("H100-NVL-94GB", 93.1),
        ("B200", 178.36),
        ("MI300X", 191.98),
        ("A10", 22.07),
        ("A10G", 22.07),
    ],
)
def test_derived_cuda_totals(gpu_id: str, expected: float) -> None:
    gpu = CATALOG.get(gpu_id)
    assert gpu.cuda_total_gib == pytest.approx(expected, abs=0.06)
    assert gpu.cuda_total_basis == "derived"


@pytest.mark.parametrize(
    ("name", "gpu_id"),
    [
        ("H100", "H100-80GB-SXM"),
        ("h100", "H100-80GB-SXM"),
        ("A100", "A100-80GB-SXM"),
        ("a100 40gb", "A100-40GB-SXM"),
        ("H200", "H200-141GB-SXM"),
        ("L4", "L4"),
        ("l40s", "L40S"),
        ("Tesla T4", "T4"),
        ("h100_nvl", "H100-NVL-94GB"),
        ("mi300x", "MI300X"),
        ("Gaudi 3", "Gaudi3"),
        # node label values as clusters report them
        ("nvidia-tesla-t4", "T4"),
        ("Tesla-T4", "T4"),
        ("NVIDIA-H100-80GB-HBM3", "H100-80GB-SXM"),
        ("NVIDIA-A100-SXM4-40GB", "A100-40GB-SXM"),
        ("A100-SXM4-80GB", "A100-80GB-SXM"),  # older drivers drop "NVIDIA-"
        ("NVIDIA-A100-80GB-PCIe", "A100-80GB-PCIe"),
        ("nvidia-h100-mega-80gb", "H100-80GB-SXM"),
        ("nvidia-h200-141gb", "H200-141GB-SXM"),
        ("nvidia-l4", "L4"),
        ("a10g", "A10G"),
    ],
)
def test_names_resolve(name: str, gpu_id: str) -> None:
    assert CATALOG.get(name).id == gpu_id


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("L40", "L40S"),
        ("H100-SMX", "H100-SXM"),
        ("A100-80G", "A100-80GB"),
        ("H2000", "H200"),
        ("Guadi2", "Gaudi2"),
    ],
)
def test_typo_suggests_close_matches(typo: str, suggestion: str) -> None:
    with pytest.raises(NotFoundError) as raised:
        CATALOG.get(typo)
    assert raised.value.kind == "GPU"
    assert suggestion in raised.value.suggestions
    assert "Did you mean" in str(raised.value)


def test_vendor_only_label_value_names_no_gpu() -> None:
    with pytest.raises(NotFoundError) as raised:
        CATALOG.get("nvidia")  # the AKS node-pool label: every NVIDIA GPU carries it
    assert raised.value.hint is not None
    assert "H100-80GB-SXM" in raised.value.hint


@pytest.mark.parametrize(
    ("name", "platform", "selector"),
    [
        ("H100", "gfd", {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}),
        ("H100", "gke", {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}),
        ("H100", "eks", {"karpenter.k8s.aws/instance-gpu-name": "h100"}),
        ("H100", "aks", {"kubernetes.azure.com/accelerator": "nvidia"}),
        ("H100", "aks-nap", {"karpenter.azure.com/sku-gpu-name": "H100"}),
        ("T4", "gke", {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}),
        ("T4", "aks-nap", {"karpenter.azure.com/sku-gpu-name": "T4"}),
        ("L4", "eks", {"karpenter.k8s.aws/instance-gpu-name": "l4"}),
        ("A100-40GB-SXM", "gke", {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"}),
        (
            "A100-40GB-SXM",
            "eks",
            {
                "karpenter.k8s.aws/instance-gpu-name": "a100",
                "karpenter.k8s.aws/instance-gpu-memory": "40960",
            },
        ),
        (
            "A100-80GB-SXM",
            "eks",
            {
                "karpenter.k8s.aws/instance-gpu-name": "a100",
                "karpenter.k8s.aws/instance-gpu-memory": "81920",
            },
        ),
        ("H200", "gke", {"cloud.google.com/gke-accelerator": "nvidia-h200-141gb"}),
        ("MI300X", "aks-nap", {"karpenter.azure.com/sku-gpu-name": "MI300X"}),
    ],
)
def test_node_selector_per_platform(name: str, platform: str, selector: dict[str, str]) -> None:
    assert CATALOG.get(name).node_selector(platform) == selector


@pytest.mark.parametrize(
    ("name", "platform"),
    [("L40S", "gke"), ("A10G", "aks"), ("H100-PCIe", "eks"), ("A100-40GB", "aks-nap")],
)
def test_missing_label_says_where_the_gpu_is_labelled(name: str, platform: str) -> None:
    gpu = CATALOG.get(name)
    with pytest.raises(InvalidInputError) as raised:
        gpu.node_selector(platform)
    assert platform in raised.value.message
    assert raised.value.hint is not None
    assert "gfd" in raised.value.hint


def test_gaudi_has_no_label_anywhere() -> None:
    gaudi = CATALOG.get("Gaudi2")
    assert gaudi.label_platforms == ()
    with pytest.raises(InvalidInputError, match="no node label on gfd"):
        gaudi.node_selector("gfd")


def test_unknown_platform_suggests() -> None:
    with pytest.raises(NotFoundError) as raised:
        CATALOG.get("H100").node_selector("gek")
    assert raised.value.kind == "platform"
    assert "gke" in raised.value.suggestions


@pytest.mark.parametrize(
    ("name", "platform", "expected"),
    [
        ("H100", "gke", [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]),
        ("H100", "eks", [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]),
        (
            "H100",
            "aks",
            [
                {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            ],
        ),
        (
            "MI300X",
            "aks-nap",
            [
                {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
                {"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            ],
        ),
        (
            "Gaudi3",
            "gfd",
            [{"key": "habana.ai/gaudi", "operator": "Exists", "effect": "NoSchedule"}],
        ),
    ],
)
def test_tolerations_per_platform(name: str, platform: str, expected: list[dict[str, str]]) -> None:
    assert CATALOG.get(name).tolerations(platform) == expected


def test_same_selector_names_gpus_a_platform_cannot_tell_apart() -> None:
    assert [g.id for g in CATALOG.same_selector("H100", "aks-nap")] == ["H100-NVL-94GB"]
    assert CATALOG.same_selector("A100-80GB-SXM", "eks") == ()
    assert CATALOG.same_selector("H100", "gfd") == ()
    on_aks = {g.id for g in CATALOG.same_selector("T4", "aks")}
    assert {"H100-80GB-SXM", "A100-80GB-PCIe", "H200-141GB-SXM"} <= on_aks
    assert not CATALOG.platform("aks").identifies_model


@pytest.mark.parametrize(
    ("name", "dtype", "expected"),
    [
        ("T4", "bf16", 65.0),  # no bf16 on Turing: fp16 figure
        ("T4", "fp16", 65.0),
        ("T4", "fp8", None),
        ("T4", "int8", 130.0),
        ("A100", "bf16", 312.0),
        ("A100", "fp8", None),
        ("H100", "fp8", 1979.0),
        ("H100", "bfloat16", 989.0),
        ("L4", "float16", 121.0),
        ("L4", "int8", 242.5),
        ("A10G", "int8", None),
        ("Gaudi2", "fp16", None),
    ],
)
def test_dense_tflops(name: str, dtype: str, expected: float | None) -> None:
    assert CATALOG.get(name).dense_tflops(dtype) == expected


def test_dense_tflops_unknown_dtype_suggests() -> None:
    with pytest.raises(NotFoundError) as raised:
        CATALOG.get("H100").dense_tflops("fp18")
    assert raised.value.kind == "dtype"
    assert raised.value.suggestions


def test_bf16_unsupported_only_on_turing() -> None:
    assert [g.id for g in CATALOG.all() if not g.bf16_supported] == ["T4"]


def test_load_reads_once_and_knows_its_version() -> None:
    assert gpus.load() is gpus.load()
    assert CATALOG.schema_version == gpus.SCHEMA_VERSION == 1
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", CATALOG.generated_on)
    assert len(ALL_IDS) == len(set(ALL_IDS)) == 17


def test_parse_rejects_another_schema_version() -> None:
    data = _raw()
    data["schema_version"] = 2
    with pytest.raises(KubeFoundryError, match="schema_version"):
        gpus.parse(data)


def test_parse_rejects_an_alias_naming_two_gpus() -> None:
    data = copy.deepcopy(_raw())
    data["gpus"][0]["aliases"].append("H100")
    with pytest.raises(KubeFoundryError, match="names both"):
        gpus.parse(data)


def test_parse_rejects_a_label_key_the_platform_does_not_use() -> None:
    data = copy.deepcopy(_raw())
    data["gpus"][0]["node_labels"]["gke"] = {"nvidia.com/gpu.product": "Tesla-T4"}
    with pytest.raises(KubeFoundryError, match="bad node_labels"):
        gpus.parse(data)


def test_parse_rejects_a_missing_field() -> None:
    data = copy.deepcopy(_raw())
    del data["gpus"][3]["cuda_total_gib"]
    with pytest.raises(KubeFoundryError, match="KeyError"):
        gpus.parse(data)
