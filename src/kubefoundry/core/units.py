"""Byte units. GiB is what CUDA and vLLM report; vendors quote decimal GB."""

GIB = 1024**3
MIB = 1024**2
GB = 10**9


def gib(n_bytes: float) -> float:
    return n_bytes / GIB
