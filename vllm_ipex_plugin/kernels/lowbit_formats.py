"""The ``ipex_low_bit`` formats: IPEX-LLM's grids, scales and bits per weight.

Every format quantizes a weight ``W[N, K]`` (output rows, input columns) in blocks of
64 consecutive input columns, one scale (and for asym_int4 one min) per row and block.
The storage layout is this plugin's own, chosen for the Triton kernels (see
docs/low_bit_formats.md): per-row contiguous payload, scales in a separate ``[N, K/64]``
tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

BLOCK = 64


@dataclass(frozen=True)
class LowBitFormat:
    name: str
    bits_per_weight: float  # payload + scales, as stored
    tensors: tuple[tuple[str, torch.dtype, tuple[int, int]], ...]  # (name, dtype, cols per K)
    quantized: bool = True

    def tensor_shapes(self, n: int, k: int) -> dict[str, tuple[tuple[int, int], torch.dtype]]:
        """Shape and dtype of every stored tensor of an ``[n, k]`` weight."""
        out = {}
        for tname, dtype, (num, den) in self.tensors:
            out[tname] = ((n, k * num // den), dtype)
        return out


def _t(name: str, dtype: torch.dtype, num: int, den: int = 1):
    return (name, dtype, (num, den))


_F16, _F32, _U8, _I8 = torch.float16, torch.float32, torch.uint8, torch.int8
_SCALES16 = _t("scales", _F16, 1, BLOCK)
_SCALES32 = _t("scales", _F32, 1, BLOCK)

FORMATS: dict[str, LowBitFormat] = {
    "sym_int4": LowBitFormat("sym_int4", 4.25, (_t("qweight", _U8, 1, 2), _SCALES16)),
    "asym_int4": LowBitFormat(
        "asym_int4", 4.5, (_t("qweight", _U8, 1, 2), _SCALES16, _t("mins", _F16, 1, BLOCK))
    ),
    "nf4": LowBitFormat("nf4", 4.25, (_t("qweight", _U8, 1, 2), _SCALES16)),
    "sym_int8": LowBitFormat("sym_int8", 8.5, (_t("qweight", _I8, 1, 1), _SCALES32)),
    "fp8_e4m3": LowBitFormat("fp8_e4m3", 8.5, (_t("qweight", _U8, 1, 1), _SCALES32)),
    # IPEX-LLM stores a constant fp32 1.0 per block for e5m2 (8.5 bits); it carries no
    # information, so it is not stored here (8.0 bits, same values).
    "fp8_e5m2": LowBitFormat("fp8_e5m2", 8.0, (_t("qweight", _U8, 1, 1),)),
    # 6 bits: low 4 bits two per byte, high 2 bits four per byte.
    "fp6": LowBitFormat(
        "fp6", 6.25, (_t("qlow", _U8, 1, 2), _t("qhigh", _U8, 1, 4), _SCALES16)
    ),
    "fp16": LowBitFormat("fp16", 16.0, (_t("weight", _F16, 1, 1),), quantized=False),
    "bf16": LowBitFormat("bf16", 16.0, (_t("weight", torch.bfloat16, 1, 1),), quantized=False),
}

ALIASES = {"fp8": "fp8_e5m2", "woq_int4": "sym_int4"}
FORMAT_NAMES = frozenset(FORMATS) | frozenset(ALIASES)
DEFAULT_FORMAT = "fp8"


def canonical_name(name: str) -> str:
    """``fp8`` -> ``fp8_e5m2``; raises ``ValueError`` listing valid names when unknown."""
    key = (name or "").strip().lower()
    key = ALIASES.get(key, key)
    if key not in FORMATS:
        raise ValueError(
            f"Unknown ipex_low_bit format {name!r}. Valid formats: {', '.join(sorted(FORMAT_NAMES))}."
        )
    return key


def get_format(name: str) -> LowBitFormat:
    return FORMATS[canonical_name(name)]
