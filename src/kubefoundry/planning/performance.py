"""Parameters a token touches: what compute and weight traffic per token are counted from.

The speed of a replica is predicted by ``planning/speed.py``; this module keeps the one count
both it and the memory figures share.
"""

from __future__ import annotations

import functools

from kubefoundry.catalog.architecture import ModelArch
from kubefoundry.planning import weights


@functools.lru_cache(maxsize=256)
def active_parameters(arch: ModelArch) -> float:
    """Parameters one token touches (all of a dense model; routed + shared for MoE)."""
    total = float(weights.parameter_count(arch))
    moe = arch.moe
    if moe is None:
        return total
    matrices = 3 if arch.gated_mlp else 2
    moe_layers = arch.num_layers - moe.first_dense_layers
    idle = (moe.num_experts - moe.experts_per_token) * matrices * arch.hidden_size
    return total - idle * moe.expert_intermediate_size * moe_layers
