"""Device code the low-bit kernels share: the decoders, the weight-tile loader, split-K helpers.

One source for Intel's XPU Triton backend and for CUDA: plain loads, integer unpacking
and bit casts; no inline assembly or vendor intrinsics. Layout: see ``reference.py``
(row-major payload, ``[N, K/64]`` scales). Decoding tricks:

- fp8_e5m2 is the top byte of an fp16: ``bits << 8``.
- fp8_e4m3 is an fp16 whose exponent field holds the 4-bit exponent: place
  ``sign << 15 | (exp_mant << 7)`` and multiply by 2^8 (covers subnormals too).
- fp6 (e3m2, bias 3) likewise: ``sign << 15 | exp << 10 | mant << 8`` times 2^12.
- 4-bit and int8 codes: OR-ed into the mantissa of 2^23, then 2^23 subtracted (no
  int->float conversion).

Kernels compare their ``FMT`` constexpr with the named constants below (the values of
``formats.FormatId``), never with literal ids. Only ``@triton.jit`` functions live here; the
host side of a launch is ``launch.py``.
"""

from __future__ import annotations

import triton
import triton.language as tl

from vllm_ipex_plugin.kernels.lowbit.formats import LAST_NIBBLE as _LAST_NIBBLE
from vllm_ipex_plugin.kernels.lowbit.formats import FormatId

SYM_INT4: tl.constexpr = tl.constexpr(int(FormatId.SYM_INT4))
ASYM_INT4: tl.constexpr = tl.constexpr(int(FormatId.ASYM_INT4))
NF4: tl.constexpr = tl.constexpr(int(FormatId.NF4))
FP6: tl.constexpr = tl.constexpr(int(FormatId.FP6))
SYM_INT8: tl.constexpr = tl.constexpr(int(FormatId.SYM_INT8))
FP8_E4M3: tl.constexpr = tl.constexpr(int(FormatId.FP8_E4M3))
FP8_E5M2: tl.constexpr = tl.constexpr(int(FormatId.FP8_E5M2))
LAST_NIBBLE: tl.constexpr = tl.constexpr(int(_LAST_NIBBLE))  # ids up to here: 4-bit payloads


@triton.jit
def small_int_to_float(q, offset: tl.constexpr):
    """``float(q) - offset`` for ints ``0 <= q < 2^23`` without an int->float conversion.

    OR-ing ``q`` into the mantissa of 2^23 gives the float ``2^23 + q`` exactly; one
    subtraction removes 2^23 and the offset. Two full-rate ALU ops instead of a conversion,
    which runs at a fraction of the FMA rate and bounds the GEMV otherwise.
    """
    return (q | 0x4B000000).to(tl.float32, bitcast=True) - (8388608.0 + offset)


@triton.jit
def decode_nibbles(q, s, m, code_ptr, FMT: tl.constexpr):
    """4-bit codes (int32) -> fp32 weights; ``s``/``m`` broadcast per block."""
    if FMT == SYM_INT4:
        w = small_int_to_float(q, 8.0) * s
    elif FMT == ASYM_INT4:
        w = small_int_to_float(q, 0.0) * s + m
    else:
        w = tl.load(code_ptr + q) * s
    return w


@triton.jit
def decode_fp6(code, s):
    bits = ((code & 0x20) << 10) | ((code & 0x1C) << 8) | ((code & 0x3) << 8)
    return bits.to(tl.int16).to(tl.float16, bitcast=True).to(tl.float32) * (4096.0 * s)


@triton.jit
def decode_bytes(b, s, FMT: tl.constexpr):
    """8-bit codes (int32 from uint8 / int8 loads) -> fp32 weights."""
    if FMT == SYM_INT8:  # int8 loaded sign-extended: offset binary, then remove the offset
        w = small_int_to_float(b + 128, 128.0) * s
    elif FMT == FP8_E4M3:
        bits = ((b & 0x80) << 8) | ((b & 0x7F) << 7)
        w = bits.to(tl.int16).to(tl.float16, bitcast=True).to(tl.float32) * (256.0 * s)
    else:
        w = (b << 8).to(tl.int16).to(tl.float16, bitcast=True).to(tl.float32)
    return w


@triton.jit
def load_weight_tile(q_ptr, q2_ptr, s_ptr, m_ptr, code_ptr, offs_n, n_mask, k0,
                      stride_qn, stride_q2n, stride_sn, FMT: tl.constexpr, BK: tl.constexpr,
                      QB: tl.constexpr):
    """The dequantized ``[BN, BK]`` fp32 tile of columns ``k0 .. k0 + BK``.

    Loads are shaped ``[BN, groups, bytes per group]`` so each quantization block's scale
    is loaded once and broadcast; packed codes are interleaved back with ``tl.join``.
    ``QB`` is the quantization block: 64, or 32 for asym_int4 converted from g32 AWQ/GPTQ.
    """
    G: tl.constexpr = BK // QB
    g = tl.arange(0, G)
    rows = offs_n[:, None, None]
    rmask = n_mask[:, None, None]
    sidx = rows * stride_sn + (k0 // QB + g)[None, :, None]
    BN: tl.constexpr = offs_n.shape[0]
    if FMT <= LAST_NIBBLE:
        t = tl.arange(0, QB // 2)
        col = (k0 // 2 + g[:, None] * (QB // 2) + t[None, :])[None, :, :]
        qb = tl.load(q_ptr + rows * stride_qn + col, mask=rmask, other=0).to(tl.int32)
        q = tl.join(qb & 0xF, (qb >> 4) & 0xF)  # [BN, G, 32, 2]: column 2t + i
        s = tl.load(s_ptr + sidx, mask=rmask, other=0.0).to(tl.float32)[:, :, :, None]
        if FMT == FP6:
            h = tl.arange(0, 16)
            hcol = (k0 // 4 + g[:, None] * 16 + h[None, :])[None, :, :]
            qh = tl.load(q2_ptr + rows * stride_q2n + hcol, mask=rmask, other=0).to(tl.int32)
            # byte j holds columns 4j + i at bits 2i: interleave to [BN, G, 16, 2, 2]
            high = tl.join(tl.join(qh & 3, (qh >> 4) & 3), tl.join((qh >> 2) & 3, (qh >> 6) & 3))
            high = tl.reshape(high, (BN, G, QB // 2, 2))
            w = decode_fp6(q | (high << 4), s)
        else:
            if FMT == ASYM_INT4:
                m = tl.load(m_ptr + sidx, mask=rmask, other=0.0).to(tl.float32)[:, :, :, None]
            else:
                m = s
            w = decode_nibbles(q, s, m, code_ptr, FMT)
    else:
        t = tl.arange(0, 64)
        col = (k0 + g[:, None] * 64 + t[None, :])[None, :, :]
        b = tl.load(q_ptr + rows * stride_qn + col, mask=rmask, other=0).to(tl.int32)
        if FMT == FP8_E5M2:
            s = 1.0
        else:
            s = tl.load(s_ptr + sidx, mask=rmask, other=0.0).to(tl.float32)
        w = decode_bytes(b, s, FMT)
    return tl.reshape(w, (BN, BK))


@triton.jit
def split_k_range(K, BK: tl.constexpr, SPLIT_K: tl.constexpr, pid_k):
    """Columns ``[start, end)`` of split ``pid_k``: BK-aligned spans, the last one clipped to K."""
    k_span = tl.cdiv(K, BK * SPLIT_K) * BK
    k_start = pid_k * k_span
    return k_start, tl.minimum(K, k_start + k_span)


@triton.jit
def store_split(out, y_ptrs, ws_ptrs, mask, count_ptr, SPLIT_K: tl.constexpr):
    """Store a tile of outputs (``out``, fp32) computed over this program's share of K.

    Split K: each split adds its partial sums into the fp32 workspace at ``ws_ptrs`` and counts
    itself in ``count_ptr`` (one counter per output tile); the split that arrives last takes the
    sums out with an exchange that leaves zeros behind, writes them to ``y_ptrs`` in its dtype and
    resets the counter. The workspace is zeroed once when allocated and every launch leaves it
    zeroed, so a split GEMV is one kernel: no zero-fill before it, no conversion after. (The fused
    GEMM keeps fp32 atomics into a zeroed buffer: this store made its split tiles slower, docs/decisions.md.)
    The barrier makes every lane's adds precede the one counter update (release); the counter's
    acquire makes the last split see them all.
    """
    if SPLIT_K == 1:
        tl.store(y_ptrs, out.to(y_ptrs.dtype.element_ty), mask=mask)
    else:
        tl.atomic_add(ws_ptrs, out, mask=mask, sem="relaxed")
        tl.debug_barrier()
        arrived = tl.atomic_add(count_ptr, 1, sem="acq_rel")
        if arrived == SPLIT_K - 1:
            # exchanged as int32 bit patterns (0 is +0.0): integer exchange is what every backend has
            bits = tl.atomic_xchg(ws_ptrs.to(tl.pointer_type(tl.int32)), tl.zeros_like(out).to(tl.int32), mask=mask)
            tl.store(y_ptrs, bits.to(tl.float32, bitcast=True).to(y_ptrs.dtype.element_ty), mask=mask)
            tl.atomic_xchg(count_ptr, 0)


@triton.jit
def store_gemv_row(out, y_row, bias_ptr, offs_n, n_mask, pid_k, HAS_BIAS: tl.constexpr, SPLIT_K: tl.constexpr,
                   ws_row, count_ptr):
    """One activation row's outputs (``store_split``); bias added by the first split only."""
    if HAS_BIAS:
        if pid_k == 0:
            out += tl.load(bias_ptr + offs_n, mask=n_mask, other=0.0).to(tl.float32)
    store_split(out, y_row + offs_n, ws_row + offs_n, n_mask, count_ptr, SPLIT_K)
