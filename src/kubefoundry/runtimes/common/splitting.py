"""Prefill/decode disaggregation: how a plan's replicas are shared out between the pools, and
the reason, worded from the counts the pools get.

Every split runtime (dynamo, llmd, kserve's LLMInferenceService) renders its pools from one
``Split`` and explains it with ``reason(split)``, so the reason can only say "the larger
share" when one pool has more replicas than the other.
"""

from __future__ import annotations

import dataclasses
import math

from kubefoundry.planning.plans import Plan
from kubefoundry.runtimes.base import Options, Workload

# Workloads whose prompts are long and answers short, so prefill gets the larger share.
PREFILL_HEAVY = {
    "rag": "RAG",
    "summarization": "summarization",
    "agent": "agent",
    "code": "code-completion",
}


@dataclasses.dataclass(frozen=True)
class Split:
    decode: int
    prefill: int
    planned: int  # the plan's replicas (a split needs at least two)
    workload: Workload

    @property
    def total(self) -> int:
        return self.decode + self.prefill

    @property
    def favoured(self) -> str:
        """The pool the workload wants more of: prefill for long prompts (RAG, summaries,
        agents), decode else."""
        return "prefill" if self.workload in PREFILL_HEAVY else "decode"


def split(plan: Plan, options: Options) -> Split:
    """The plan's replicas (at least two) split in halves; an odd one goes to the pool the
    workload favours."""
    total = max(plan.replicas, 2)
    larger = math.ceil(total / 2)
    prefill = larger if options.workload in PREFILL_HEAVY else total - larger
    return Split(
        decode=total - prefill, prefill=prefill, planned=plan.replicas, workload=options.workload
    )


def reason(s: Split) -> str:
    """Why the split is what it is, from its counts: "the larger share" only when it is."""
    if s.workload in PREFILL_HEAVY:
        why = f"{PREFILL_HEAVY[s.workload]} prompts are long and answers short"
    else:
        why = f"{s.workload} answers stream for long"
    counts = {"decode": s.decode, "prefill": s.prefill}
    other = "decode" if s.favoured == "prefill" else "prefill"
    if counts[s.favoured] > counts[other]:
        out = f"{why}, so {s.favoured} gets the larger share"
    else:
        out = (
            f"{why}, so an odd replica would go to {s.favoured}; {s.total} split evenly, "
            f"{s.decode} decode : {s.prefill} prefill"
        )
    if s.total > s.planned:
        out += f"; a split needs {s.total} replicas, {s.total - s.planned} more than planned"
    return out
