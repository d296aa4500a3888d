"""Torch reference quantizers and dequantizers for every ``ipex_low_bit`` format.

Numerics follow IPEX-LLM's quantizer (measured against its native library, see
shared/reference/formats-measured.md), except that fp8 and fp6 round to nearest
(ties to even) where IPEX-LLM truncates toward zero. Packing is this plugin's layout:

- 4-bit codes: byte ``j`` of a row holds column ``2j`` in its low nibble and ``2j+1``
  in its high nibble.
- fp6 codes (1 sign, 3 exponent with bias 3, 2 mantissa bits; max 28, no inf/nan):
  ``qlow`` holds the low 4 bits of each code two per byte (as 4-bit codes above),
  ``qhigh`` the top 2 bits four per byte (column ``4j+i`` at bits ``2i..2i+1``).
- fp8 codes are the raw bytes of ``torch.float8_e4m3fn`` / ``torch.float8_e5m2``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from vllm_ipex_plugin.kernels.lowbit.formats import (
    BLOCK,
    E4M3_MAX,
    E5M2_MAX,
    FP6_MAX,
    QUANTIZED,
    FormatId,
    LowBitFormat,
    get_format,
)

NF4_CODE = torch.tensor(
    [
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
        -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
        0.07958029955625534, 0.16093020141124725, 0.24611230790615082, 0.33791524171829224,
        0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
    ],
    dtype=torch.float32,
)


_tables: dict[tuple[str, torch.device], torch.Tensor] = {}


def code_table(name: str, device: torch.device) -> torch.Tensor:
    """The ``nf4`` codebook or the ``fp6`` grid on ``device``, cached per device (no
    host-to-device copy per call, graph-capturable; the Triton kernels read the same tensor)."""
    key = (name, device)
    if key not in _tables:
        _tables[key] = (NF4_CODE if name == "nf4" else fp6_grid()).to(device)
    return _tables[key]


def fp6_grid() -> torch.Tensor:
    """The 32 non-negative e3m2 values (codes 0..31), bias 3, subnormals at exponent 0."""
    vals = []
    for code in range(32):
        e, m = code >> 2, code & 3
        vals.append((m / 4.0) * 2.0**-2 if e == 0 else (1.0 + m / 4.0) * 2.0 ** (e - 3))
    return torch.tensor(vals, dtype=torch.float32)


def _blocks(w: torch.Tensor) -> torch.Tensor:
    n, k = w.shape
    if k % BLOCK:
        raise ValueError(f"input size {k} is not a multiple of {BLOCK}")
    return w.float().reshape(n, k // BLOCK, BLOCK)


def pack_nibbles(q: torch.Tensor) -> torch.Tensor:
    q = q.to(torch.uint8)
    return (q[..., 0::2] | (q[..., 1::2] << 4)).contiguous()


def unpack_nibbles(packed: torch.Tensor) -> torch.Tensor:
    low, high = packed & 0xF, packed >> 4
    return torch.stack((low, high), dim=-1).reshape(*packed.shape[:-1], packed.shape[-1] * 2)


def _safe_inverse(d: torch.Tensor) -> torch.Tensor:
    return torch.where(d == 0, torch.zeros_like(d), 1.0 / torch.where(d == 0, torch.ones_like(d), d))


def _nearest_code(a: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Index of the nearest grid value to each ``a`` (ascending grid); ties to even index."""
    mids = (grid[1:] + grid[:-1]) / 2
    code = torch.bucketize(a.contiguous(), mids, right=False)  # a == mid -> lower code
    last = grid.numel() - 1
    at_mid = (code < last) & (a == mids[code.clamp(max=last - 1)])
    return torch.where(at_mid & (code % 2 == 1), code + 1, code)


# ----- quantizers: W[N, K] float -> dict of stored tensors --------------------------------
# One function per format, registered under its FormatId (the spec table is formats.FORMATS).
_QUANTIZERS: dict[FormatId, Callable[[torch.Tensor], dict[str, torch.Tensor]]] = {}
_DEQUANTIZERS: dict[FormatId, Callable[[dict[str, torch.Tensor]], torch.Tensor]] = {}


def _registered(table: dict, fid: FormatId):
    def register(fn):
        table[fid] = fn
        return fn

    return register


def quantize(w: torch.Tensor, fmt: str | LowBitFormat) -> dict[str, torch.Tensor]:
    spec = get_format(fmt)
    if not spec.quantized:  # fp16 / bf16: the weight in the spec's dtype
        return {spec.payload: w.to(spec.payload_dtype).contiguous()}
    return _QUANTIZERS[spec.id](w)


@_registered(_QUANTIZERS, FormatId.FP8_E5M2)
def _quantize_fp8_e5m2(w: torch.Tensor) -> dict[str, torch.Tensor]:
    # No scale: a plain cast, saturating at the largest finite e5m2 value.
    q = w.float().clamp(-E5M2_MAX, E5M2_MAX).to(torch.float8_e5m2)
    return {"qweight": q.view(torch.uint8).contiguous()}


@_registered(_QUANTIZERS, FormatId.SYM_INT4)
def _quantize_sym_int4(w: torch.Tensor) -> dict[str, torch.Tensor]:
    x, (n, k) = _blocks(w), w.shape
    # ggml q4_0: d = (value of largest magnitude, signed) / -8; q = floor(x/d + 8.5).
    idx = x.abs().argmax(dim=-1, keepdim=True)
    d = torch.gather(x, -1, idx) / -8.0
    q = torch.floor(x * _safe_inverse(d) + 8.5).clamp(0, 15)
    return {"qweight": pack_nibbles(q.reshape(n, k)), "scales": d[..., 0].to(torch.float16)}


@_registered(_QUANTIZERS, FormatId.ASYM_INT4)
def _quantize_asym_int4(w: torch.Tensor) -> dict[str, torch.Tensor]:
    x, (n, k) = _blocks(w), w.shape
    # ggml q4_1: d = (max - min) / 15, m = min; q = floor((x - min)/d + 0.5).
    lo, hi = x.amin(dim=-1, keepdim=True), x.amax(dim=-1, keepdim=True)
    d = (hi - lo) / 15.0
    q = torch.floor((x - lo) * _safe_inverse(d) + 0.5).clamp(0, 15)
    return {
        "qweight": pack_nibbles(q.reshape(n, k)),
        "scales": d[..., 0].to(torch.float16),
        "mins": lo[..., 0].to(torch.float16),
    }


@_registered(_QUANTIZERS, FormatId.NF4)
def _quantize_nf4(w: torch.Tensor) -> dict[str, torch.Tensor]:
    x, (n, k) = _blocks(w), w.shape
    absmax = x.abs().amax(dim=-1, keepdim=True)
    q = _nearest_code(x * _safe_inverse(absmax), code_table("nf4", x.device))
    return {"qweight": pack_nibbles(q.reshape(n, k)), "scales": absmax[..., 0].to(torch.float16)}


@_registered(_QUANTIZERS, FormatId.SYM_INT8)
def _quantize_sym_int8(w: torch.Tensor) -> dict[str, torch.Tensor]:
    x, (n, k) = _blocks(w), w.shape
    d = x.abs().amax(dim=-1, keepdim=True) / 127.0
    v = x * _safe_inverse(d)
    q = (torch.sign(v) * torch.floor(v.abs() + 0.5)).clamp(-127, 127)  # half away from 0
    return {"qweight": q.to(torch.int8).reshape(n, k), "scales": d[..., 0]}


@_registered(_QUANTIZERS, FormatId.FP8_E4M3)
def _quantize_fp8_e4m3(w: torch.Tensor) -> dict[str, torch.Tensor]:
    x, (n, k) = _blocks(w), w.shape
    d = x.abs().amax(dim=-1, keepdim=True) / E4M3_MAX
    v = (x * _safe_inverse(d)).clamp(-E4M3_MAX, E4M3_MAX)
    q = v.to(torch.float8_e4m3fn).view(torch.uint8)  # round to nearest even
    return {"qweight": q.reshape(n, k).contiguous(), "scales": d[..., 0]}


@_registered(_QUANTIZERS, FormatId.FP6)
def _quantize_fp6(w: torch.Tensor) -> dict[str, torch.Tensor]:
    x, (n, k) = _blocks(w), w.shape
    d = x.abs().amax(dim=-1, keepdim=True) / FP6_MAX
    v = x * _safe_inverse(d)
    mag = _nearest_code(v.abs().clamp(max=FP6_MAX), code_table("fp6", x.device))
    code = (mag | ((v < 0).to(torch.int64) << 5)).reshape(n, k)
    high = (code >> 4) & 0x3
    qhigh = high[:, 0::4] | (high[:, 1::4] << 2) | (high[:, 2::4] << 4) | (high[:, 3::4] << 6)
    return {
        "qlow": pack_nibbles(code & 0xF),
        "qhigh": qhigh.to(torch.uint8).contiguous(),
        "scales": d[..., 0].to(torch.float16),
    }


# ----- dequantizers: stored tensors -> W[N, K] float32 -------------------------------------
def _per_block(values: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """Multiply each block of columns by its scale (block = K / scale columns: 64, or 32)."""
    n, k = values.shape
    blocks = scales.shape[1]
    return (values.reshape(n, blocks, k // blocks) * scales.float().unsqueeze(-1)).reshape(n, k)


def fp6_decode(codes: torch.Tensor) -> torch.Tensor:
    mag = code_table("fp6", codes.device)[(codes & 0x1F).long()]
    return torch.where((codes >> 5) & 1 == 1, -mag, mag)


def dequantize(t: dict[str, torch.Tensor], fmt: str | LowBitFormat) -> torch.Tensor:
    spec = get_format(fmt)
    if not spec.quantized:
        return t[spec.payload].float()
    return _DEQUANTIZERS[spec.id](t)


@_registered(_DEQUANTIZERS, FormatId.FP8_E5M2)
def _dequantize_fp8_e5m2(t: dict[str, torch.Tensor]) -> torch.Tensor:
    return t["qweight"].view(torch.float8_e5m2).float()


@_registered(_DEQUANTIZERS, FormatId.SYM_INT4)
def _dequantize_sym_int4(t: dict[str, torch.Tensor]) -> torch.Tensor:
    return _per_block(unpack_nibbles(t["qweight"]).float() - 8.0, t["scales"])


@_registered(_DEQUANTIZERS, FormatId.ASYM_INT4)
def _dequantize_asym_int4(t: dict[str, torch.Tensor]) -> torch.Tensor:
    q = unpack_nibbles(t["qweight"]).float()
    n, k = q.shape
    mins = t["mins"].float().repeat_interleave(k // t["mins"].shape[1], dim=1)
    return _per_block(q, t["scales"]) + mins.reshape(n, k)


@_registered(_DEQUANTIZERS, FormatId.NF4)
def _dequantize_nf4(t: dict[str, torch.Tensor]) -> torch.Tensor:
    codes = unpack_nibbles(t["qweight"]).long()
    return _per_block(code_table("nf4", codes.device)[codes], t["scales"])


@_registered(_DEQUANTIZERS, FormatId.SYM_INT8)
def _dequantize_sym_int8(t: dict[str, torch.Tensor]) -> torch.Tensor:
    return _per_block(t["qweight"].float(), t["scales"])


@_registered(_DEQUANTIZERS, FormatId.FP8_E4M3)
def _dequantize_fp8_e4m3(t: dict[str, torch.Tensor]) -> torch.Tensor:
    return _per_block(t["qweight"].view(torch.float8_e4m3fn).float(), t["scales"])


@_registered(_DEQUANTIZERS, FormatId.FP6)
def _dequantize_fp6(t: dict[str, torch.Tensor]) -> torch.Tensor:
    low = unpack_nibbles(t["qlow"]).long()
    qh = t["qhigh"].long()
    high = torch.stack([(qh >> (2 * i)) & 0x3 for i in range(4)], dim=-1).reshape(low.shape)
    return _per_block(fp6_decode(low | (high << 4)), t["scales"])


def lowbit_linear(x: torch.Tensor, t: dict[str, torch.Tensor], fmt: str | LowBitFormat, bias=None) -> torch.Tensor:
    """Reference weight-only matmul: dequantize, then a dense matmul in ``x``'s dtype."""
    w = dequantize(t, fmt).to(x.dtype)
    return torch.nn.functional.linear(x, w, bias)


assert {s.id for s in QUANTIZED} == set(_QUANTIZERS) == set(_DEQUANTIZERS), "a quantized format lacks its reference"
