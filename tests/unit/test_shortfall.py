"""The "GiB short" of a misfit, checked by hand from config.json numbers and the GPU's memory.

Weights and KV cache are counted here from the model's own config (tensor by tensor, the
simple way), the budget from the GPU catalog's memory and the tier's utilisation; only the
activation peak and the runtime's own memory (under 3 GiB together) are read back from the
message. The shortfall must be all of it: weights that do not fit plus the KV cache of the
longest request the context admits plus those overheads, minus the budget; not the KV cache alone.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.conftest import hf_config

from kubefoundry.catalog import gpus, instances, models
from kubefoundry.core.errors import DoesNotFitError
from kubefoundry.core.spec import DeploymentSpec
from kubefoundry.core.units import GIB
from kubefoundry.planning import planner, tiers

CATALOG = models.ModelCatalog.load()
GPUS = gpus.load()
INSTANCES = instances.load()
REPORTED = re.compile(
    r"needs (?P<need>[\d.]+) GiB \((?P<weights>[\d.]+) weights \+ (?P<act>[\d.]+) activations "
    r"\+ (?P<runtime>[\d.]+) runtime \+ (?P<kv>[\d.]+) KV cache for (?P<requests>\d+) requests? "
    r"of (?P<context>[\d,]+) tokens\) but vLLM may use (?P<budget>[\d.]+) GiB of its "
    r"(?P<total>[\d.]+): (?P<short>[\d.]+) GiB short per GPU"
    r"(?:, (?P<all>[\d.]+) GiB over all (?P<gpus>\d+) GPUs)?"
)


def _weights_gib(config: dict[str, Any], *, tp: int, linear_bytes: float) -> float:
    """One GPU's weights: linear layers at ``linear_bytes``, embeddings and norms in bf16."""
    h, layers = config["hidden_size"], config["num_hidden_layers"]
    heads, kv = config["num_attention_heads"], config["num_key_value_heads"]
    head_dim = config.get("head_dim") or h // heads
    attention = h * heads * head_dim * 2 + h * kv * head_dim * 2  # q, o; k, v
    mlp = 3 * h * config["intermediate_size"]  # gate, up, down
    linear = layers * (attention + mlp) / tp
    embeddings = config["vocab_size"] * h * (1 if config["tie_word_embeddings"] else 2) / tp
    norms = layers * 2 * h + h
    return (linear * linear_bytes + (embeddings + norms) * 2) / GIB


def _kv_gib(
    config: dict[str, Any], *, tp: int, requests: int, context: int, kv_bytes: int
) -> float:
    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    per_token = config["num_hidden_layers"] * 2 * (config["num_key_value_heads"] // tp)
    return requests * context * per_token * head_dim * kv_bytes / GIB


CASES = [
    # model, config, GPU, count, tier, extra pins, bytes per linear weight, KV bytes
    ("llama-3.3-70b", "meta-llama__Llama-3.3-70B-Instruct", "L4", 1, "better", {}, 2, 2),
    ("llama-3.3-70b", "meta-llama__Llama-3.3-70B-Instruct", "L4", 2, "better", {}, 2, 2),
    ("llama-3.3-70b", "meta-llama__Llama-3.3-70B-Instruct", "L4", 4, "better", {}, 2, 2),
    ("qwen3-32b", "Qwen__Qwen3-32B", "L4", 1, "better", {}, 2, 2),
    # the good tier may serve FP8 weights with an FP8 KV cache: the closest option does
    ("qwen3-32b", "Qwen__Qwen3-32B", "L4", 1, "good", {}, 1, 1),
    # fp16 weights (T4 has no bf16) alone overflow a T4
    ("llama-3.1-8b", "meta-llama__Llama-3.1-8B-Instruct", "T4", 1, "better", {}, 2, 2),
]


@pytest.mark.parametrize(
    ("model", "config_name", "gpu", "count", "tier", "pins", "linear_bytes", "kv_bytes"), CASES
)
def test_shortfall_is_everything_that_does_not_fit(
    model: str,
    config_name: str,
    gpu: str,
    count: int,
    tier: str,
    pins: dict[str, object],
    linear_bytes: int,
    kv_bytes: int,
) -> None:
    request = DeploymentSpec.model_validate(
        {"model": model, "gpu": gpu, "gpu_count": count, "tier": tier, **pins}
    )
    with pytest.raises(DoesNotFitError) as caught:
        planner.plan(request, CATALOG.get(model), gpus=GPUS, instances=INSTANCES)
    found = REPORTED.search(caught.value.message)
    assert found, caught.value.message
    got = {k: float(v.replace(",", "")) for k, v in found.groupdict().items() if v is not None}

    config, policy = hf_config(config_name), tiers.get(tier)
    requests = 1  # the longest request the context admits must fit; typical ones are speed's
    context = int(str(pins.get("context_length", policy.context_floor)))
    weights = _weights_gib(config, tp=count, linear_bytes=linear_bytes)
    kv = _kv_gib(config, tp=count, requests=requests, context=context, kv_bytes=kv_bytes)
    budget = policy.gpu_memory_utilization * GPUS.get(gpu).cuda_total_gib

    assert (got["requests"], got["context"]) == (requests, context)
    assert got["weights"] == pytest.approx(weights, abs=0.1)
    assert got["kv"] == pytest.approx(kv, abs=0.06)  # printed to 0.1 GiB
    assert got["budget"] == pytest.approx(budget, abs=0.05)
    overheads = got["act"] + got["runtime"]
    assert 0 < overheads < 3
    short = weights + kv + overheads - budget
    assert got["short"] == pytest.approx(short, abs=0.15)
    assert got["short"] > weights - budget  # the weights that do not fit are counted
    if count > 1:
        assert got["gpus"] == count
        assert got["all"] == pytest.approx(short * count, abs=0.3)
    else:
        assert "all" not in got


def test_70b_on_one_l4_is_short_by_far_more_than_its_kv_cache() -> None:
    """Before: "40.0 GiB short" (the KV cache alone); 131 GiB of weights do not fit either.

    One request of the 16,384-token floor needs 5.0 GiB of KV (80 layers × 8 KV heads × 128 ×
    2 × 2 B × 16,384); the weights (131.4) and overheads over the 19.8 GiB budget are the rest.
    """
    request = DeploymentSpec(model="llama-3.3-70b", gpu="L4", gpu_count=1)
    with pytest.raises(DoesNotFitError) as caught:
        planner.plan(request, CATALOG.get("llama-3.3-70b"), gpus=GPUS, instances=INSTANCES)
    assert "131.4 weights" in caught.value.message
    assert "5.0 KV cache" in caught.value.message
    assert "117.5 GiB short per GPU" in caught.value.message
