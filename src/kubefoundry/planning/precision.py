"""Numeric formats: the activation dtype vLLM will run and the weight quantization in force."""

from __future__ import annotations

from typing import get_args

from kubefoundry.catalog.architecture import ModelArch, Quantization
from kubefoundry.core import choices
from kubefoundry.core.errors import InvalidInputError

DtypeFlag = choices.DtypeFlag
QuantFlag = choices.QuantFlag
QUANT_FLAGS: tuple[str, ...] = get_args(QuantFlag)

_CONFIG_DTYPES = {
    "bfloat16": "bf16",
    "bf16": "bf16",
    "float16": "fp16",
    "fp16": "fp16",
    "half": "fp16",
    "float32": "fp32",
    "fp32": "fp32",
    "float": "fp32",
}


def resolve_dtype(flag: str, arch: ModelArch, *, bf16_supported: bool = True) -> str:
    """The dtype vLLM's ``--dtype`` resolves to.

    ``auto`` takes the checkpoint's ``torch_dtype``, except that fp32 checkpoints are served in
    bf16 and bf16 falls back to fp16 on GPUs without bf16 (Turing and older).
    """
    if flag != "auto":
        if flag not in ("bf16", "fp16", "fp32"):
            raise InvalidInputError(
                f"Unknown dtype {flag!r}.", hint="Use auto, bf16, fp16 or fp32."
            )
        return flag
    native = _CONFIG_DTYPES.get(arch.torch_dtype.lower(), "bf16")
    if native == "fp32":
        native = "bf16"
    if native == "bf16" and not bf16_supported:
        return "fp16"
    return native


def resolve_quantization(flag: str | None, arch: ModelArch) -> Quantization | None:
    """The quantization in force: the checkpoint's own, or the one asked for.

    Asking for a different one than the checkpoint ships is an error vLLM would also raise.
    """
    shipped = arch.quantization
    if flag in (None, "", "none"):
        return shipped
    if flag not in QUANT_FLAGS:
        raise InvalidInputError(
            f"Unknown quantization {flag!r}.", hint="Use one of: " + ", ".join(QUANT_FLAGS) + "."
        )
    method = "w8a8" if flag == "int8" else flag
    if shipped is not None and not _same(shipped.method, method):
        raise InvalidInputError(
            f"The checkpoint is already quantized as {shipped.method}; it cannot be served "
            f"as {flag}.",
            hint="Leave `quantization` out, or pick the model's unquantized checkpoint.",
        )
    if shipped is not None:
        return shipped
    bits = 4 if method in ("w4a16", "awq", "gptq", "mxfp4") else 8
    group = 32 if method == "mxfp4" else (128 if bits == 4 else None)
    return Quantization(method=method, bits=bits, group_size=group)


def _same(shipped: str, asked: str) -> bool:
    aliases = {"compressed-tensors": {"fp8", "w8a8", "w4a16"}, "w8a8": {"int8", "w8a8"}}
    return shipped == asked or asked in aliases.get(shipped, set())
