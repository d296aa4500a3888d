"""The GEMV kernels (one activation row per program column) and their launcher.

Elementwise products are reduced once per program; K is split across programs when the
output has too few tiles to fill the GPU (fp32 atomics into a workspace the last split empties,
``decode.store_split``). For the 4-bit
formats (``LowBitFormat.paired_gemv``) a second GEMV, ``_lowbit_gemv_pairs_kernel``, skips
the interleave altogether; for sym_int4 / asym_int4 a third, ``_lowbit_gemv_w4_kernel``, reads the
payload as 32-bit words and decodes two nibbles per integer op. A fourth, ``_lowbit_gemv_h16_kernel``,
reads words too and forms the products in fp16 pairs (fp16 activations; 4-bit, fp6, int8 and fp8 codes):
see its docstring. The tuned table picks (``H16``, ``W4``, ``PAIRS``, first set wins); an entry with
none takes the generic kernel.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from vllm_ipex_plugin.kernels.common.device import DeviceFacts, device_facts
from vllm_ipex_plugin.kernels.lowbit.decode import (
    ASYM_INT4,
    FP6,
    FP8_E4M3,
    FP8_E5M2,
    LAST_NIBBLE,
    SYM_INT4,
    SYM_INT8,
    load_weight_tile,
    small_int_to_float,
    split_k_range,
    store_gemv_row,
)
from vllm_ipex_plugin.kernels.lowbit.formats import BLOCK, FormatId, LowBitFormat, get_format
from vllm_ipex_plugin.kernels.lowbit.launch import (
    Launch,
    nf4_table,
    operands,
    pick_block_k,
    quant_block,
    split_workspace,
)
from vllm_ipex_plugin.kernels.lowbit.tuning import table
from vllm_ipex_plugin.kernels.lowbit.tuning.table import GEMV_SAFE_ROWS

# Activations of the paired GEMV: 0 float32 (two strided loads), 1 fp16 / 2 bf16 read as one
# 32-bit word per column pair.
X_KINDS = {torch.float16: 1, torch.bfloat16: 2}
# Formats of the word-wise 4-bit GEMV (``_lowbit_gemv_w4_kernel``, configuration key ``W4``).
W4_FORMATS = (FormatId.SYM_INT4, FormatId.ASYM_INT4)
# Formats of the fp16-pair GEMV (``_lowbit_gemv_h16_kernel``, configuration key ``H16``): codes that
# land in an fp16 lane with integer ops alone. It takes fp16 activations only (see the kernel).
H16_FORMATS = (FormatId.SYM_INT4, FormatId.ASYM_INT4, FormatId.FP6, FormatId.SYM_INT8, FormatId.FP8_E4M3,
               FormatId.FP8_E5M2)
# The H16 kernel multiplies activations by this power of two before its fp16 products, so that no
# partial sum of a word's codes can overflow fp16 for any fp16 input; the result is scaled back once.
H16_X_SCALE: tl.constexpr = tl.constexpr(64.0)
# The configuration keys that choose a GEMV kernel, in the order ``gemv_launch`` honours them.
KERNEL_KEYS = ("H16", "W4", "PAIRS")


@triton.jit
def _lowbit_gemv_kernel(x_ptr, q_ptr, q2_ptr, s_ptr, m_ptr, code_ptr, y_ptr, bias_ptr, ws_ptr, cnt_ptr,
                        M, N, K, stride_xm, stride_qn, stride_q2n, stride_sn, stride_ym,
                        FMT: tl.constexpr, HAS_BIAS: tl.constexpr, BN: tl.constexpr,
                        BK: tl.constexpr, SPLIT_K: tl.constexpr, QB: tl.constexpr):
    pid_n = tl.program_id(0)
    row = tl.program_id(1)
    pid_k = tl.program_id(2)
    offs_n = pid_n * BN + tl.arange(0, BN)
    n_mask = offs_n < N
    k_start, k_end = split_k_range(K, BK, SPLIT_K, pid_k)
    x_row = x_ptr + row * stride_xm
    acc = tl.zeros((BN, BK), dtype=tl.float32)
    for k0 in range(k_start, k_end, BK):
        w = load_weight_tile(q_ptr, q2_ptr, s_ptr, m_ptr, code_ptr, offs_n, n_mask, k0,
                              stride_qn, stride_q2n, stride_sn, FMT, BK, QB)
        x = tl.load(x_row + k0 + tl.arange(0, BK)).to(tl.float32)
        acc += w * x[None, :]
    store_gemv_row(tl.sum(acc, axis=1), y_ptr + row * stride_ym, bias_ptr, offs_n, n_mask, pid_k, HAS_BIAS,
                   SPLIT_K, ws_ptr + row * N, cnt_ptr + row * tl.num_programs(0) + pid_n)


@triton.jit
def _lowbit_gemv_pairs_kernel(x_ptr, q_ptr, s_ptr, m_ptr, code_ptr, y_ptr, bias_ptr, ws_ptr, cnt_ptr,
                              M, N, K, stride_xm, stride_qn, stride_sn, stride_ym,
                              FMT: tl.constexpr, HAS_BIAS: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
                              SPLIT_K: tl.constexpr, QB: tl.constexpr, X_KIND: tl.constexpr):
    """GEMV for 4-bit formats that never interleaves: each byte's low and high nibble meet
    the activations of the even and odd column of the pair directly, as ``[BN, G, QB/2]``
    tiles in the byte load's own layout.

    ``X_KIND``: 0 float32 activations (two strided loads); 1 fp16 / 2 bf16 activations read
    as one 32-bit word per column pair (``x_ptr`` is that int32 view) and split with shifts.
    """
    pid_n = tl.program_id(0)
    row = tl.program_id(1)
    pid_k = tl.program_id(2)
    offs_n = pid_n * BN + tl.arange(0, BN)
    n_mask = offs_n < N
    k_start, k_end = split_k_range(K, BK, SPLIT_K, pid_k)
    G: tl.constexpr = BK // QB
    T: tl.constexpr = QB // 2
    rows = offs_n[:, None, None]
    rmask = n_mask[:, None, None]
    g = tl.arange(0, G)[None, :, None]
    pair = g * T + tl.arange(0, T)[None, None, :]  # column pair (= byte) index within the tile
    acc = tl.zeros((BN, G, T), dtype=tl.float32)
    for k0 in range(k_start, k_end, BK):
        b = tl.load(q_ptr + rows * stride_qn + k0 // 2 + pair, mask=rmask, other=0).to(tl.int32)
        sidx = rows * stride_sn + k0 // QB + g
        s = tl.load(s_ptr + sidx, mask=rmask, other=0.0).to(tl.float32)
        if X_KIND == 0:
            x_lo = tl.load(x_ptr + row * stride_xm + k0 + 2 * pair)
            x_hi = tl.load(x_ptr + row * stride_xm + k0 + 2 * pair + 1)
        else:
            xw = tl.load(x_ptr + row * stride_xm + k0 // 2 + pair)
            if X_KIND == 1:
                x_lo = (xw & 0xFFFF).to(tl.int16).to(tl.float16, bitcast=True).to(tl.float32)
                x_hi = (xw >> 16).to(tl.int16).to(tl.float16, bitcast=True).to(tl.float32)
            else:
                x_lo = (xw << 16).to(tl.float32, bitcast=True)
                x_hi = (xw & -65536).to(tl.float32, bitcast=True)
        lo = b & 0xF
        hi = (b >> 4) & 0xF
        if FMT == SYM_INT4:
            part = small_int_to_float(lo, 8.0) * x_lo + small_int_to_float(hi, 8.0) * x_hi
            acc += part * s
        elif FMT == ASYM_INT4:
            part = small_int_to_float(lo, 0.0) * x_lo + small_int_to_float(hi, 0.0) * x_hi
            m = tl.load(m_ptr + sidx, mask=rmask, other=0.0).to(tl.float32)
            acc += part * s + (x_lo + x_hi) * m
        else:
            part = tl.load(code_ptr + lo) * x_lo + tl.load(code_ptr + hi) * x_hi
            acc += part * s
    store_gemv_row(tl.sum(tl.sum(acc, axis=2), axis=1), y_ptr + row * stride_ym, bias_ptr, offs_n, n_mask, pid_k,
                   HAS_BIAS, SPLIT_K, ws_ptr + row * N, cnt_ptr + row * tl.num_programs(0) + pid_n)


@triton.jit
def _w4_pair(w, SHIFT: tl.constexpr, MASK: tl.constexpr):
    """Nibbles c and c+4 of each payload word as ``1 + q * u`` in fp32.

    One shift and one and-or place both nibbles in the top of the mantissas of the word's two
    halves, as fp16 bit patterns of ``1 + q * u`` (``u`` 1/16, or 1/64 for the pair at bits 4..7,
    which needs no shift); each half is then one fp16 -> fp32 conversion.
    """
    if SHIFT > 0:
        v = w << SHIFT
    elif SHIFT < 0:
        v = w >> -SHIFT
    else:
        v = w
    v = (v & MASK) | 0x3C003C00
    lo = v.to(tl.int16).to(tl.float16, bitcast=True).to(tl.float32)
    hi = (v >> 16).to(tl.int16).to(tl.float16, bitcast=True).to(tl.float32)
    return lo, hi


@triton.jit
def _lowbit_gemv_w4_kernel(x_ptr, q_ptr, s_ptr, m_ptr, y_ptr, bias_ptr, ws_ptr, cnt_ptr, M, N, K, stride_xm,
                           stride_qn, stride_sn, stride_ym, FMT: tl.constexpr, HAS_BIAS: tl.constexpr, BN: tl.constexpr,
                           BK: tl.constexpr, SPLIT_K: tl.constexpr, QB: tl.constexpr):
    """GEMV for sym_int4 / asym_int4 reading the payload as 32-bit words (``q_ptr``: the int32
    view of the ``[N, K/2]`` bytes; word ``j`` holds columns ``8j + c`` at bits ``4c``).

    Per word and row: four shift/and-or pairs (``_w4_pair``), eight fp16 -> fp32 conversions and
    eight FMAs with the activations, one FMA with the scale (two for asym_int4). The code offset
    (8 for sym_int4) and the pattern's leading 1.0 are folded into one term per word computed
    from the activations once per program and shared by its ``BN`` rows, as is the split of the
    activations into the eight column classes; the pattern's 1/16 is applied once at the end.
    ``BN`` rows per program amortize that activation work (and its reads), which is what the
    paired GEMV spends per row.
    """
    pid_n = tl.program_id(0)
    row = tl.program_id(1)
    pid_k = tl.program_id(2)
    offs_n = pid_n * BN + tl.arange(0, BN)
    n_mask = offs_n < N
    k_start, k_end = split_k_range(K, BK, SPLIT_K, pid_k)
    G: tl.constexpr = BK // QB
    WG: tl.constexpr = QB // 8  # words per quantization block
    rows = offs_n[:, None, None]
    rmask = n_mask[:, None, None]
    jj = tl.arange(0, WG)[None, :]
    wi = tl.arange(0, G)[:, None] * WG + jj  # [G, WG]: word of the tile
    acc = tl.zeros((BN, G, WG), dtype=tl.float32)
    x_row = x_ptr + row * stride_xm
    for k0 in range(k_start, k_end, BK):
        w = tl.load(q_ptr + rows * stride_qn + k0 // 8 + wi[None], mask=rmask, other=0)
        sidx = rows * stride_sn + k0 // QB + tl.arange(0, G)[None, :, None]
        s = tl.load(s_ptr + sidx, mask=rmask, other=0.0).to(tl.float32)
        xt = tl.load(x_row + k0 + 8 * wi[:, :, None] + tl.arange(0, 8)[None, None, :]).to(tl.float32)
        # column 8j + 4a + 2b + d: split d, then b, then a
        xe, xo = tl.split(tl.reshape(xt, (G, WG, 2, 2, 2)))
        xee, xeo = tl.split(xe)
        xoe, xoo = tl.split(xo)
        x0, x4 = tl.split(xee)
        x2, x6 = tl.split(xeo)
        x1, x5 = tl.split(xoe)
        x3, x7 = tl.split(xoo)
        x15 = x1 + x5
        xsum = ((x0 + x4) + (x2 + x6)) + ((x3 + x7) + x15)
        if FMT == SYM_INT4:  # (q - 8) / 16 = f - 1.5 where f = 1 + q / 16; 4 f - 4.5 where f = 1 + q / 64
            part = -1.5 * xsum - 3.0 * x15
        else:  # q / 16 = f - 1, or 4 f - 4
            part = -xsum - 3.0 * x15
        part = part[None]
        lo, hi = _w4_pair(w, 6, 0x03C003C0)
        part += lo * x0[None]
        part += hi * x4[None]
        lo, hi = _w4_pair(w, 0, 0x00F000F0)
        part += lo * (4.0 * x1)[None]
        part += hi * (4.0 * x5)[None]
        lo, hi = _w4_pair(w, -2, 0x03C003C0)
        part += lo * x2[None]
        part += hi * x6[None]
        lo, hi = _w4_pair(w, -6, 0x03C003C0)
        part += lo * x3[None]
        part += hi * x7[None]
        if FMT == ASYM_INT4:  # + min * sum(x), in the same 1/16 units
            m = tl.load(m_ptr + sidx, mask=rmask, other=0.0).to(tl.float32)
            acc += part * s + (0.0625 * xsum)[None] * m
        else:
            acc += part * s
    out = 16.0 * tl.sum(tl.sum(acc, axis=2), axis=1)
    store_gemv_row(out, y_ptr + row * stride_ym, bias_ptr, offs_n, n_mask, pid_k, HAS_BIAS, SPLIT_K,
                   ws_ptr + row * N, cnt_ptr + row * tl.num_programs(0) + pid_n)


@triton.jit
def _h16_lanes(v):
    """The two fp16 numbers whose bit patterns are the halves of the int32 ``v``."""
    lo = v.to(tl.int16).to(tl.float16, bitcast=True)
    hi = (v >> 16).to(tl.int16).to(tl.float16, bitcast=True)
    return lo, hi


@triton.jit
def _shift_left(v, BITS: tl.constexpr):
    """``v << BITS``; a negative ``BITS`` shifts right (arithmetic: callers mask the sign bits away)."""
    if BITS > 0:
        v = v << BITS
    elif BITS < 0:
        v = v >> -BITS
    return v


@triton.jit
def _fp6_high_plane(h):
    """fp6's high plane for one payload word: ``h`` holds the word's eight 2-bit highs (column ``c`` at bits
    ``2c``, an int16 of the plane read as int32). Returned with column ``c`` of each half (columns 0-3 in the
    low half, 4-7 in the high one) at bit ``2c`` (the exponent's top bit) and ``2c + 3`` (the sign), so that
    one shift and one mask put a pair's two highs where its fp16 lanes want them."""
    spread = (h & 0xFF) | ((h & 0xFF00) << 8)
    return (spread & 0x00550055) | ((spread & 0x00AA00AA) << 2)


@triton.jit
def _h16_codes(w, hp, PAIR: tl.constexpr, FMT: tl.constexpr):
    """Codes ``PAIR`` and ``PAIR + 4`` (4-bit, as ``q - 8``; fp6) or ``PAIR`` and ``PAIR + 2`` (bytes) of each
    payload word as fp16 values, exact: integer codes are OR-ed into the mantissa of 1024 and the offset removed
    with one fp16 subtraction; fp8 bytes are moved into fp16 bit patterns (e4m3 as value / 256); fp6 codes
    (``hp``: the word's high plane, ``_fp6_high_plane``) likewise, as value / 4096."""
    if FMT == SYM_INT4 or FMT == ASYM_INT4:
        lo, hi = _h16_lanes(((w >> (4 * PAIR)) & 0x000F000F) | 0x64006400)
        lo = lo - 1032.0  # q - 8: asym_int4 too (its min takes the 8 back), so that products stay small
        hi = hi - 1032.0
    elif FMT == FP6:  # e3m2: low nibble (exponent low bits, mantissa) to fp16 bits 8-11, top exponent bit to
        # 12, sign to 15; fp16's exponent bias is 12 above fp6's, subnormals included
        bits = (_shift_left(w, 8 - 4 * PAIR) & 0x0F000F00) | (_shift_left(hp, 12 - 2 * PAIR) & -1879011328)
        lo, hi = _h16_lanes(bits)  # -1879011328: 0x90009000
    elif FMT == SYM_INT8:  # offset binary: 1024 + 128 + q
        lo, hi = _h16_lanes((((w >> (8 * PAIR)) ^ 0x00800080) & 0x00FF00FF) | 0x64006400)
        lo = lo - 1152.0
        hi = hi - 1152.0
    elif FMT == FP8_E4M3:
        v = (w >> (8 * PAIR)) & 0x00FF00FF
        lo, hi = _h16_lanes(((v & 0x00800080) << 8) | ((v & 0x007F007F) << 7))
    else:  # fp8_e5m2: the byte is the top byte of an fp16
        lo, hi = _h16_lanes((w << (8 - 8 * PAIR)) & -16711936)  # 0xFF00FF00
    return lo, hi


@triton.jit
def _fp6_group_scales(xt):
    """Per quantization block of the activation tile ``xt [G, WG, 8]`` (fp32): a power of two that brings
    the block's largest magnitude into [2^14, 2^15), and its inverse. fp6 codes come out of
    ``_h16_codes`` 2^12 too small, so unscaled activations would put ordinary products among fp16's
    subnormals; scaled this way no product exceeds 28 * 2^-12 * 2^15 = 224 and a word's sum of eight
    stays below 1800, while every activation but those 2^-28 below its block's largest stays normal.
    Computed on the exponent bits (exact; an all-zero block gets 2^126, harmless)."""
    amax = tl.max(tl.max(tl.abs(xt), axis=2), axis=1)
    e = tl.maximum(amax.to(tl.int32, bitcast=True) >> 23, 15)  # the biased exponent (amax is not negative)
    up = ((268 - e) << 23).to(tl.float32, bitcast=True)  # 2^(141 - e)
    down = ((e - 14) << 23).to(tl.float32, bitcast=True)  # 2^(e - 141)
    return up, down


@triton.jit
def _lowbit_gemv_h16_kernel(x_ptr, q_ptr, q2_ptr, s_ptr, m_ptr, y_ptr, bias_ptr, ws_ptr, cnt_ptr, M, N, K,
                            stride_xm, stride_qn, stride_q2n, stride_sn, stride_ym, FMT: tl.constexpr,
                            HAS_BIAS: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, SPLIT_K: tl.constexpr,
                            QB: tl.constexpr):
    """GEMV reading the payload as 32-bit words and multiplying in fp16, two codes per operation.

    ``q_ptr``: the int32 view of the payload rows (word ``j`` holds columns ``CPW * j + c``: eight
    nibbles at bits ``4c``, or four bytes at bits ``8c``); ``q2_ptr``: for fp6 the int16 view of its
    high plane (element ``j``: the highs of word ``j``), otherwise unused. Each word's codes come out of
    integer ops as fp16 lane pairs (``_h16_codes``) that meet their activations in fp16 multiply-adds:
    the instruction count per weight byte, not the memory, is what bounds a GEMV's fp32 decode on
    GPUs, and fp16 pairs halve it where the hardware packs two fp16 lanes per register (NVIDIA
    since sm_53, Intel Xe). Accuracy: a word's (at most eight) products are summed in fp16, then
    scaled and accumulated in fp32. So that no fp16 partial sum can overflow, activations are
    pre-scaled by ``1 / H16_X_SCALE`` (exact for fp16 inputs down to 2^-8; smaller ones lose low
    bits), or for fp6, whose codes come out 2^12 small, by a power of two per quantization block
    (``_fp6_group_scales``) taken back with the block's scale.
    """
    pid_n = tl.program_id(0)
    row = tl.program_id(1)
    pid_k = tl.program_id(2)
    offs_n = pid_n * BN + tl.arange(0, BN)
    n_mask = offs_n < N
    k_start, k_end = split_k_range(K, BK, SPLIT_K, pid_k)
    CPW: tl.constexpr = 8 if FMT <= LAST_NIBBLE else 4  # codes per word: nibble payloads (fp6's low bits too)
    G: tl.constexpr = BK // QB
    WG: tl.constexpr = QB // CPW  # words per quantization block
    rows = offs_n[:, None, None]
    rmask = n_mask[:, None, None]
    wi = tl.arange(0, G)[:, None] * WG + tl.arange(0, WG)[None, :]  # [G, WG]: word of the tile
    acc = tl.zeros((BN, G, WG), dtype=tl.float32)
    x_row = x_ptr + row * stride_xm
    for k0 in range(k_start, k_end, BK):
        w = tl.load(q_ptr + rows * stride_qn + k0 // CPW + wi[None], mask=rmask, other=0)
        sidx = rows * stride_sn + k0 // QB + tl.arange(0, G)[None, :, None]
        xt = tl.load(x_row + k0 + CPW * wi[:, :, None] + tl.arange(0, CPW)[None, None, :]).to(tl.float32)
        if FMT == FP6:
            h = tl.load(q2_ptr + rows * stride_q2n + k0 // CPW + wi[None], mask=rmask, other=0).to(tl.int32)
            hp = _fp6_high_plane(h)
            x_up, x_down = _fp6_group_scales(xt)
            xh = (xt * x_up[:, None, None]).to(tl.float16)
        else:
            hp = w
            x_down = 1.0
            xh = (xt * (1.0 / H16_X_SCALE)).to(tl.float16)
        if CPW == 8:  # column 8j + 4a + 2b + d: split d, then b, then a
            xe, xo = tl.split(tl.reshape(xh, (G, WG, 2, 2, 2)))
            xee, xeo = tl.split(xe)
            xoe, xoo = tl.split(xo)
            x0, x4 = tl.split(xee)
            x2, x6 = tl.split(xeo)
            x1, x5 = tl.split(xoe)
            x3, x7 = tl.split(xoo)
            lo, hi = _h16_codes(w, hp, 0, FMT)
            plo = lo * x0[None]
            phi = hi * x4[None]
            lo, hi = _h16_codes(w, hp, 1, FMT)
            plo += lo * x1[None]
            phi += hi * x5[None]
            lo, hi = _h16_codes(w, hp, 2, FMT)
            plo += lo * x2[None]
            phi += hi * x6[None]
            lo, hi = _h16_codes(w, hp, 3, FMT)
            plo += lo * x3[None]
            phi += hi * x7[None]
        else:  # column 4j + 2a + d: split d, then a
            xe, xo = tl.split(tl.reshape(xh, (G, WG, 2, 2)))
            x0, x2 = tl.split(xe)
            x1, x3 = tl.split(xo)
            lo, hi = _h16_codes(w, hp, 0, FMT)
            plo = lo * x0[None]
            phi = hi * x2[None]
            lo, hi = _h16_codes(w, hp, 1, FMT)
            plo += lo * x1[None]
            phi += hi * x3[None]
        part = (plo + phi).to(tl.float32)
        if FMT == FP8_E5M2:
            acc += part
        elif FMT == ASYM_INT4:  # q s + m = (q - 8) s + (m + 8 s): + (m + 8 s) * sum(x) over the word
            s = tl.load(s_ptr + sidx, mask=rmask, other=0.0).to(tl.float32)
            m = tl.load(m_ptr + sidx, mask=rmask, other=0.0).to(tl.float32)
            acc += part * s + (tl.sum(xt, axis=2) * (1.0 / H16_X_SCALE))[None] * (m + 8.0 * s)
        elif FMT == FP6:
            s = tl.load(s_ptr + sidx, mask=rmask, other=0.0).to(tl.float32)
            acc += part * (s * x_down[None, :, None])
        else:
            s = tl.load(s_ptr + sidx, mask=rmask, other=0.0).to(tl.float32)
            acc += part * s
    unit = 4096.0 if FMT == FP6 else (H16_X_SCALE * 256.0 if FMT == FP8_E4M3 else H16_X_SCALE)
    out = tl.sum(tl.sum(acc, axis=2), axis=1) * unit
    store_gemv_row(out, y_ptr + row * stride_ym, bias_ptr, offs_n, n_mask, pid_k, HAS_BIAS, SPLIT_K,
                   ws_ptr + row * N, cnt_ptr + row * tl.num_programs(0) + pid_n)


def gemv_grid(m: int, n: int, constexprs: dict) -> tuple[int, int, int]:
    return (triton.cdiv(n, constexprs["BN"]), m, constexprs["SPLIT_K"])


def gemv_launch(spec: LowBitFormat, m: int, n: int, k: int, cfg: dict, facts: DeviceFacts, *, qb: int = BLOCK,
                x_dtype: torch.dtype = torch.float16, has_bias: bool = False) -> Launch:
    """The GEMV launch for an ``[m, k] x [n, k]^T`` product under configuration ``cfg``
    (``BN``, ``BK``, ``SPLIT_K``, ``num_warps``, ``num_stages``, optional ``H16``, ``W4`` or ``PAIRS``; the
    first set that applies wins: ``H16`` for ``H16_FORMATS`` with fp16 activations, ``W4`` for
    sym_int4 / asym_int4, ``PAIRS`` for the paired-nibble formats, else the generic kernel)."""
    if cfg.get("H16") and not (spec.id in H16_FORMATS and x_dtype == torch.float16):
        cfg = table.heuristic_config("gemv", m, n, k, facts)  # an H16 entry names no other kernel's tile
    half = bool(cfg.get("H16", False))
    words = not half and bool(cfg.get("W4", False)) and spec.id in W4_FORMATS
    pairs = not (half or words) and bool(cfg.get("PAIRS", False)) and spec.paired_gemv
    bn = cfg["BN"]
    if not (half or pairs or words) and facts.vendor != "cpu" and bn not in GEMV_SAFE_ROWS:
        raise ValueError(f"GEMV rows per program must be one of {GEMV_SAFE_ROWS} (got {bn}); see GEMV_SAFE_ROWS")
    constexprs = {"FMT": int(spec.id), "HAS_BIAS": has_bias, "BN": bn, "BK": pick_block_k(k, cfg["BK"]),
                  "SPLIT_K": cfg["SPLIT_K"], "QB": qb}
    if pairs:
        constexprs["X_KIND"] = X_KINDS.get(x_dtype, 0)
    fn = (_lowbit_gemv_h16_kernel if half else _lowbit_gemv_w4_kernel if words
          else _lowbit_gemv_pairs_kernel if pairs else _lowbit_gemv_kernel)
    return Launch(fn, constexprs, cfg["num_warps"], cfg["num_stages"], gemv_grid(m, n, constexprs),
                  dict(cfg.get("options", {})))


def run_gemv(launch: Launch, x: torch.Tensor, tensors: dict[str, torch.Tensor], spec: LowBitFormat,
             bias: torch.Tensor | None = None, out: torch.Tensor | None = None) -> torch.Tensor:
    """Run a :func:`gemv_launch` on ``x [m, k]`` (contiguous rows); ``out``: where to write."""
    m, k = x.shape
    q, q2, s, mins = operands(tensors, spec)
    n = q.shape[0]
    y = out if out is not None else torch.empty((m, n), device=x.device, dtype=x.dtype)
    c = launch.constexprs
    grid = gemv_grid(m, n, c)
    b = bias if bias is not None else y
    ws, counts = split_workspace(x.device, m * n, m * grid[0])
    if launch.fn is _lowbit_gemv_w4_kernel:
        qw = q.view(torch.int32)  # eight 4-bit columns per word
        launch.run(grid, x, qw, s, mins, y, b, ws, counts, m, n, k, x.stride(0), qw.stride(0), s.stride(0), y.stride(0))
    elif launch.fn is _lowbit_gemv_h16_kernel:
        qw = q.view(torch.int32)  # eight 4-bit or four 8-bit columns per word
        hw = q2.view(torch.int16) if "qhigh" in tensors else qw  # fp6: the highs of one payload word each
        launch.run(grid, x, qw, hw, s, mins, y, b, ws, counts, m, n, k, x.stride(0), qw.stride(0), hw.stride(0),
                   s.stride(0), y.stride(0))
    elif "X_KIND" in c:
        xv = x.view(torch.int32) if c["X_KIND"] else x  # one 32-bit word per column pair
        launch.run(grid, xv, q, s, mins, nf4_table(x.device), y, b, ws, counts,
                   m, n, k, xv.stride(0), q.stride(0), s.stride(0), y.stride(0))
    else:
        launch.run(grid, x, q, q2, s, mins, nf4_table(x.device), y, b, ws, counts,
                   m, n, k, x.stride(0), q.stride(0), q2.stride(0), s.stride(0), y.stride(0))
    return y


def lowbit_gemv(x, tensors, fmt, bias=None, *, BN=None, BK=None, SPLIT_K=None, num_warps=None,
                num_stages=None, PAIRS=None, W4=None, H16=None, out=None):
    """GEMV with the device's configuration for the shape, any of it overridden by the arguments."""
    spec = get_format(fmt)
    m, k = x.shape
    n = tensors[spec.payload].shape[0]
    facts = device_facts(x.device)
    given = {"BN": BN, "BK": BK, "SPLIT_K": SPLIT_K, "num_warps": num_warps, "num_stages": num_stages,
             "PAIRS": PAIRS, "W4": W4, "H16": H16}
    cfg = {**table.config_for("gemv", spec.name, m, n, k, facts), **{a: v for a, v in given.items() if v is not None}}
    launch = gemv_launch(spec, m, n, k, cfg, facts, qb=quant_block(tensors, spec, k), x_dtype=x.dtype,
                         has_bias=bias is not None)
    return run_gemv(launch, x, tensors, spec, bias, out)
