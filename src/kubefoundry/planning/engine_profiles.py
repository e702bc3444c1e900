"""How a vLLM release budgets GPU memory at start-up, as data keyed by version.

vLLM's start-up is a fixed recipe: load the weights, run one dummy forward pass of
``max_num_batched_tokens`` tokens and one dummy sampler pass over ``max_num_seqs`` rows of
logits, measure the peak, subtract weights + that peak + memory outside PyTorch (NCCL,
custom all-reduce, cuBLAS workspaces) from ``gpu_memory_utilization × total``, and give the
rest to the KV cache. The recipe's knobs changed between releases; each change is one row
below, with the release that brought it. Sources: the vLLM engine-argument defaults and
start-up logs collected in ``shared/data/vllm-memory-calibration.csv``.
"""

from __future__ import annotations

import dataclasses
import re

from kubefoundry.core import choices
from kubefoundry.core.errors import InvalidInputError

DEFAULT_VLLM_VERSION = choices.DEFAULT_VLLM_VERSION
LARGE_GPU_GIB = 70.0  # vLLM raises its batch defaults on GPUs at least this large (not A100)


@dataclasses.dataclass(frozen=True)
class EngineProfile:
    """Start-up memory behaviour of one range of vLLM releases."""

    since: tuple[int, int, int]
    label: str
    v1_engine: bool
    # Bytes live at the sampler's peak, per (sequence × vocabulary entry): fp32 logits plus
    # the copies the dummy sampler materialises (probabilities, log-probabilities, …).
    sampler_bytes_per_logit: float
    # Allocations PyTorch holds outside the pass itself (input/position buffers, workspaces).
    activation_base_gib: float
    # Memory outside PyTorch: CUDA context leftovers, cuBLAS; plus NCCL and the custom
    # all-reduce buffers once more than one GPU shares the model.
    non_torch_gib: float
    non_torch_multi_gpu_gib: float
    # Sliding-window and full-attention layers grouped by the hybrid KV-cache manager.
    hybrid_kv_groups: bool
    # V0 aligned each MLA cache row to 256 bytes (576 bf16 values were stored as 640).
    mla_row_alignment_bytes: int


# Newest first. 0.34.0 (the default since issue 11) falls in the >=0.17 row: nothing in
# the recipe's knobs is known to have moved since, and the calibration CSV has no rows past
# 0.19, so the row stays as measured until 0.2x start-up logs are added to it.
# The sampler's footprint is the figure that moved most between releases, and
# each value below rests on calibration rows: 0.17+ (rows 1-59 and 62: Qwen3-14B's profiled
# peak fell from 5.64 to 2.23 GiB at 0.17.0), 0.11-0.16 (rows 60-61, 64-70), 0.10 (rows 73-76:
# little beyond the fp32 logits), 0.8-0.9 (rows 82-83), V0 (rows 84-87: forward-dominated).
_PROFILES: tuple[EngineProfile, ...] = (
    EngineProfile(
        since=(0, 17, 0),
        label="vLLM V1 >=0.17 (lean top-k/top-p sampler)",
        v1_engine=True,
        sampler_bytes_per_logit=13.6,
        activation_base_gib=0.25,
        non_torch_gib=0.25,
        non_torch_multi_gpu_gib=2.07,
        hybrid_kv_groups=True,
        mla_row_alignment_bytes=0,
    ),
    EngineProfile(
        since=(0, 11, 0),
        label="vLLM V1 0.11-0.16 (sorting sampler)",
        v1_engine=True,
        sampler_bytes_per_logit=36.0,
        activation_base_gib=0.25,
        non_torch_gib=0.13,
        non_torch_multi_gpu_gib=0.55,
        hybrid_kv_groups=True,
        mla_row_alignment_bytes=0,
    ),
    EngineProfile(
        since=(0, 10, 0),
        label="vLLM V1 0.10 (hybrid KV manager)",
        v1_engine=True,
        sampler_bytes_per_logit=4.0,
        activation_base_gib=0.25,
        non_torch_gib=0.13,
        non_torch_multi_gpu_gib=0.3,
        hybrid_kv_groups=True,
        mla_row_alignment_bytes=0,
    ),
    EngineProfile(
        since=(0, 8, 0),
        label="vLLM V1 0.8-0.9 (sorting sampler)",
        v1_engine=True,
        sampler_bytes_per_logit=36.0,
        activation_base_gib=0.25,
        non_torch_gib=0.13,
        non_torch_multi_gpu_gib=0.3,
        hybrid_kv_groups=False,
        mla_row_alignment_bytes=0,
    ),
    EngineProfile(
        since=(0, 0, 0),
        label="vLLM V0 (<0.8)",
        v1_engine=False,
        sampler_bytes_per_logit=4.0,
        activation_base_gib=0.1,
        non_torch_gib=0.1,
        non_torch_multi_gpu_gib=1.8,
        hybrid_kv_groups=False,
        mla_row_alignment_bytes=256,
    ),
)


def parse_version(text: str) -> tuple[int, int, int]:
    """``"0.19.0"``, ``"v0.8.5.post1"`` or ``"~0.7.3"`` → ``(0, 19, 0)``."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        raise InvalidInputError(
            f"Cannot read a vLLM version from {text!r}.",
            hint=f"Give it as MAJOR.MINOR.PATCH, for example {DEFAULT_VLLM_VERSION}.",
        )
    return int(match[1]), int(match[2]), int(match[3] or 0)


def profile_for(version: str) -> EngineProfile:
    parsed = parse_version(version)
    for profile in _PROFILES:
        if parsed >= profile.since:
            return profile
    return _PROFILES[-1]


@dataclasses.dataclass(frozen=True)
class BatchDefaults:
    max_num_seqs: int
    max_num_batched_tokens: int


def batch_defaults(
    *, version: str, gpu_total_gib: float, max_model_len: int, gpu_name: str = ""
) -> BatchDefaults:
    """The scheduler limits ``vllm serve`` picks when the user sets none.

    V1 (>=0.8) always chunks prefills: 8192 tokens and 1024 sequences on GPUs of 70 GiB or
    more (A100 excepted), 2048 and 256 elsewhere. V0 without chunked prefill batches a whole
    prompt: max(max_model_len, 2048) tokens, and chunks at 2048 above 32k context.
    """
    profile = profile_for(version)
    if profile.v1_engine:
        large = gpu_total_gib >= LARGE_GPU_GIB and "a100" not in gpu_name.lower()
        return BatchDefaults(
            max_num_seqs=1024 if large else 256,
            max_num_batched_tokens=8192 if large else 2048,
        )
    tokens = 2048 if max_model_len > 32768 else max(max_model_len, 2048)
    return BatchDefaults(max_num_seqs=256, max_num_batched_tokens=tokens)
