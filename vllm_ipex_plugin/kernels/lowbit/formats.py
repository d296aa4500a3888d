"""The ``ipex_low_bit`` formats: one :class:`LowBitFormat` spec per format, IPEX-LLM's grids.

Every format quantizes a weight ``W[N, K]`` (output rows, input columns) in blocks of
64 consecutive input columns, one scale (and for asym_int4 one min) per row and block.
The storage layout is this plugin's own, chosen for the Triton kernels (see
docs/low_bit_formats.md): per-row contiguous payload, scales in a separate ``[N, K/64]``
tensor.

A spec says everything the host code needs to know about a format: its id (the kernels'
``FMT`` constexpr), the stored tensors and their shapes, codes per byte of the payload, the
largest code value the quantizer scales to, bits per weight, and which kernels take it
(the paired-nibble GEMV; dense-only above one row). Adding a format is one entry here, its
reference quantizer/dequantizer (``reference.py``) and its branches in the kernels.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import torch

BLOCK = 64


class FormatId(IntEnum):
    """A format's id; the value is the kernels' ``FMT`` constexpr.

    The 4-bit payloads (two codes per byte; fp6's low nibbles) come first: the weight-tile
    loader tells them from the byte formats by ``FMT <= LAST_NIBBLE`` (``decode.py``).
    """

    SYM_INT4 = 0
    """ggml q4_0: ``(q - 8) * d``, d = signed absmax / -8, fp16 scale per block."""
    ASYM_INT4 = 1
    """ggml q4_1: ``q * d + m``, fp16 scale and min per block (AWQ/GPTQ convert to it)."""
    NF4 = 2
    """QLoRA's NormalFloat4 codebook times an fp16 absmax per block."""
    FP6 = 3
    """e3m2 (bias 3, max 28) times an fp16 scale; low 4 bits two per byte, high 2 bits four per byte."""
    SYM_INT8 = 4
    """int8 ``q * d``, d = absmax / 127 in fp32, round half away from zero."""
    FP8_E4M3 = 5
    """``torch.float8_e4m3fn`` bytes times an fp32 scale (absmax / 448)."""
    FP8_E5M2 = 6
    """``torch.float8_e5m2`` bytes, no scale (saturating cast)."""
    FP16 = 7
    """Not quantized: the weight kept in fp16 (no kernel)."""
    BF16 = 8
    """Not quantized: the weight kept in bf16 (no kernel)."""


@dataclass(frozen=True)
class LowBitFormat:
    name: str
    id: FormatId
    bits_per_weight: float  # payload + scales, as stored
    tensors: tuple[tuple[str, torch.dtype, tuple[int, int]], ...]  # (name, dtype, cols per K)
    codes_per_byte: int = 1  # of the payload (first tensor); 2 for the 4-bit payloads
    maximum: float = 1.0  # the code magnitude a block's absmax is scaled to (quantize kernel's QMAX)
    paired_gemv: bool = False  # the paired-nibble GEMV takes it
    dense_only: bool = False  # above one row: dequantize + dense matmul for every M
    quantized: bool = True

    @property
    def payload(self) -> str:
        """Name of the tensor whose rows are the weight's rows (``qweight``, ``qlow``, ``weight``)."""
        return self.tensors[0][0]

    @property
    def payload_dtype(self) -> torch.dtype:
        return self.tensors[0][1]

    def tensor_shapes(self, n: int, k: int) -> dict[str, tuple[tuple[int, int], torch.dtype]]:
        """Shape and dtype of every stored tensor of an ``[n, k]`` weight."""
        out = {}
        for tname, dtype, (num, den) in self.tensors:
            out[tname] = ((n, k * num // den), dtype)
        return out


def _t(name: str, dtype: torch.dtype, num: int, den: int = 1):
    return (name, dtype, (num, den))


_F16, _F32, _U8, _I8 = torch.float16, torch.float32, torch.uint8, torch.int8
_NIBBLES = _t("qweight", _U8, 1, 2)
_SCALES16 = _t("scales", _F16, 1, BLOCK)
_SCALES32 = _t("scales", _F32, 1, BLOCK)
E4M3_MAX = 448.0
E5M2_MAX = 57344.0
FP6_MAX = 28.0

_SPECS = (
    LowBitFormat("sym_int4", FormatId.SYM_INT4, 4.25, (_NIBBLES, _SCALES16), codes_per_byte=2, paired_gemv=True),
    LowBitFormat("asym_int4", FormatId.ASYM_INT4, 4.5, (_NIBBLES, _SCALES16, _t("mins", _F16, 1, BLOCK)),
                 codes_per_byte=2, paired_gemv=True),
    # codebook gathers stall the dot main loop: dense for every M > 1
    LowBitFormat("nf4", FormatId.NF4, 4.25, (_NIBBLES, _SCALES16), codes_per_byte=2, paired_gemv=True,
                 dense_only=True),
    # 6 bits: low 4 bits two per byte, high 2 bits four per byte.
    LowBitFormat("fp6", FormatId.FP6, 6.25, (_t("qlow", _U8, 1, 2), _t("qhigh", _U8, 1, 4), _SCALES16),
                 codes_per_byte=2, maximum=FP6_MAX),
    LowBitFormat("sym_int8", FormatId.SYM_INT8, 8.5, (_t("qweight", _I8, 1, 1), _SCALES32), maximum=127.0),
    LowBitFormat("fp8_e4m3", FormatId.FP8_E4M3, 8.5, (_t("qweight", _U8, 1, 1), _SCALES32), maximum=E4M3_MAX),
    # IPEX-LLM stores a constant fp32 1.0 per block for e5m2 (8.5 bits); it carries no
    # information, so it is not stored here (8.0 bits, same values).
    LowBitFormat("fp8_e5m2", FormatId.FP8_E5M2, 8.0, (_t("qweight", _U8, 1, 1),)),
    LowBitFormat("fp16", FormatId.FP16, 16.0, (_t("weight", _F16, 1, 1),), quantized=False),
    LowBitFormat("bf16", FormatId.BF16, 16.0, (_t("weight", torch.bfloat16, 1, 1),), quantized=False),
)
FORMATS: dict[str, LowBitFormat] = {spec.name: spec for spec in _SPECS}
BY_ID: dict[FormatId, LowBitFormat] = {spec.id: spec for spec in _SPECS}
QUANTIZED: tuple[LowBitFormat, ...] = tuple(spec for spec in _SPECS if spec.quantized)  # the kernels' formats
LAST_NIBBLE = max(spec.id for spec in QUANTIZED if spec.codes_per_byte == 2)
assert all((spec.codes_per_byte == 2) == (spec.id <= LAST_NIBBLE) for spec in QUANTIZED), "4-bit payloads first"
assert len(BY_ID) == len(_SPECS)

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


def get_format(fmt: str | LowBitFormat) -> LowBitFormat:
    """The spec of a format name or alias (a spec is returned as is: no name lookup on hot paths)."""
    if isinstance(fmt, LowBitFormat):
        return fmt
    return FORMATS[canonical_name(fmt)]
