"""Triton weight-only matmul for every ``ipex_low_bit`` format: ``y = x @ dequant(W)^T``.

One source for Intel's XPU Triton backend and for CUDA: plain loads, integer shifts and
bit casts, ``tl.dot``; no inline assembly or vendor intrinsics.

Device layout (``pack_for_kernels``, once at load): the codes of each quantization block
(``QB`` = 64 columns, or 32 for asym_int4 converted from group-size-32 AWQ/GPTQ) are
stored in 32-bit words, ``E`` codes per word (8 four-bit codes, 4 bytes), and permuted so
that code ``i`` of word ``j`` is column ``j + i * QB / E`` of the block. Then for a fixed
``i`` the words of a block cover ``QB / E`` *consecutive* columns, so each code position is
one contiguous vector load of the activation and every decode is a shift and a mask of a
word already in registers (no interleaving shuffles). fp6 keeps its top two bits in a
second ``int16`` word per ``qweight`` word, same permutation.

Decoding: 4-bit and int8 codes become floats by OR-ing them into the mantissa of 2^23
(exact, two ALU ops, no int->float conversion); e5m2 is the top byte of an fp16; e4m3 and
e3m2 codes are placed into an fp16's exponent/mantissa fields (the 2^8 / 2^12 rebias is
folded into the block scale, subnormals included).

Three kernels share the decoder: a GEMV (M = 1; one reduction per program at the end,
scales applied once per word), a ``tl.dot`` GEMM (one dot per code position), and a
dequantize kernel for the large-M path. GEMV and GEMM split K across programs when the
output has too few tiles to fill the GPU (fp32 atomics into a zeroed buffer).
Configurations come from ``lowbit_tuning`` (tuned per device and shape, cached on disk)
or its heuristics.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from vllm_ipex_plugin.kernels import lowbit_tuning
from vllm_ipex_plugin.kernels.lowbit_formats import BLOCK, canonical_name
from vllm_ipex_plugin.kernels.lowbit_reference import NF4_CODE, unpack_nibbles

FMT_IDS = {"sym_int4": 0, "asym_int4": 1, "nf4": 2, "fp6": 3, "sym_int8": 4, "fp8_e4m3": 5, "fp8_e5m2": 6}
PACKED = {"sym_int4", "asym_int4", "nf4", "fp6"}  # 4-bit words (fp6: its low nibbles)
# Power-of-two rebias of the fp16 bit placement, folded into the block scale.
SCALE_REBIAS = {"fp6": 4096.0, "fp8_e4m3": 256.0}
MAGIC = 0x4B000000  # bits of 2^23: OR a code < 2^23 into the mantissa, subtract 2^23


def codes_per_word(fmt: str) -> int:
    return 8 if fmt in PACKED else 4


# ----- device layout ------------------------------------------------------------------------
def _permute_blocks(codes: torch.Tensor, qb: int, e: int) -> torch.Tensor:
    """Column order ``g*qb + i*(qb/e) + j`` -> storage order ``g*qb + j*e + i``."""
    n, k = codes.shape
    return codes.reshape(n, k // qb, e, qb // e).transpose(2, 3).reshape(n, k)


def _unpack_2bit(qhigh: torch.Tensor) -> torch.Tensor:
    q = qhigh.long()
    return torch.stack([(q >> (2 * i)) & 3 for i in range(4)], dim=-1).reshape(q.shape[0], -1)


def _pack_2bit(codes: torch.Tensor) -> torch.Tensor:
    c = codes.long()
    packed = c[:, 0::4] | (c[:, 1::4] << 2) | (c[:, 2::4] << 4) | (c[:, 3::4] << 6)
    return packed.to(torch.uint8)


def quant_block(tensors: dict[str, torch.Tensor], k: int) -> int:
    """Columns per scale: 64, or 32 for asym_int4 converted from group-size-32 AWQ/GPTQ."""
    if "scales" not in tensors:
        return BLOCK
    qb = k // tensors["scales"].shape[1]
    if qb not in (32, 64):
        raise ValueError(f"{qb} columns per scale; the kernels take 32 or 64")
    return qb


def pack_for_kernels(tensors: dict[str, torch.Tensor], fmt: str) -> dict[str, torch.Tensor]:
    """Storage layout (``lowbit_reference``) -> this module's device layout. Once per weight, at load."""
    fmt = canonical_name(fmt)
    q = tensors["qlow"] if fmt == "fp6" else tensors["qweight"]
    k = q.shape[1] * (2 if fmt in PACKED else 1)
    qb, e = quant_block(tensors, k), codes_per_word(fmt)
    out = {name: t.contiguous() for name, t in tensors.items() if name in ("scales", "mins")}
    if fmt in PACKED:
        codes = _permute_blocks(unpack_nibbles(q), qb, e)
        out["qweight"] = (codes[:, 0::2] | (codes[:, 1::2] << 4)).contiguous().view(torch.int32)
        if fmt == "fp6":
            out["qhigh"] = _pack_2bit(_permute_blocks(_unpack_2bit(tensors["qhigh"]), qb, e)).view(torch.int16)
    else:
        out["qweight"] = _permute_blocks(q.view(torch.uint8), qb, e).contiguous().view(torch.int32)
    return out


def _check_packed(tensors: dict[str, torch.Tensor]) -> None:
    if tensors["qweight"].dtype != torch.int32:
        raise ValueError("lowbit_triton kernels take the device layout: call pack_for_kernels(tensors, fmt) once")


# ----- decoding -----------------------------------------------------------------------------
@triton.jit
def _load_words(q_ptr, q2_ptr, s_ptr, m_ptr, offs_n, n_mask, k0, K, stride_qn, stride_q2n, stride_sn,
                FMT: tl.constexpr, BK: tl.constexpr, QB: tl.constexpr, E: tl.constexpr,
                REBIAS: tl.constexpr):
    """Words of rows ``offs_n``, columns ``k0 .. k0 + BK`` as ``[BN, G, QB/E]``; scales ``[BN, G, 1]``.

    Blocks at or past ``K`` (the tail of the last tile) load as zero words and zero scales.
    """
    G: tl.constexpr = BK // QB
    WPG: tl.constexpr = QB // E
    rows = offs_n[:, None, None]
    g = tl.arange(0, G)[None, :, None]
    rmask = n_mask[:, None, None] & (k0 + g * QB < K)
    word = k0 // E + g * WPG + tl.arange(0, WPG)[None, None, :]
    qw = tl.load(q_ptr + rows * stride_qn + word, mask=rmask, other=0)
    if FMT == 3:
        hw = tl.load(q2_ptr + rows * stride_q2n + word, mask=rmask, other=0).to(tl.int32)
    else:
        hw = qw
    sidx = rows * stride_sn + k0 // QB + g
    if FMT == 6:
        s = tl.full((1, 1, 1), 1.0, tl.float32)
    else:
        s = tl.load(s_ptr + sidx, mask=rmask, other=0.0).to(tl.float32) * REBIAS
    if FMT == 1:
        m = tl.load(m_ptr + sidx, mask=rmask, other=0.0).to(tl.float32)
    else:
        m = s
    return qw, hw, s, m


@triton.jit
def _code_value(qw, hw, code_ptr, POS: tl.constexpr, FMT: tl.constexpr):
    """Unscaled value of code ``POS`` of every word: ``weight = value * scale (+ min)``."""
    if FMT <= 3:
        nib = (qw >> (4 * POS)) & 0xF
        if FMT == 0:
            v = (nib | 0x4B000000).to(tl.float32, bitcast=True) - 8388616.0  # q - 8
        elif FMT == 1:
            v = (nib | 0x4B000000).to(tl.float32, bitcast=True) - 8388608.0
        elif FMT == 2:
            v = tl.load(code_ptr + nib)
        else:
            code = nib | (((hw >> (2 * POS)) & 3) << 4)
            bits = ((code & 0x20) << 10) | ((code & 0x1F) << 8)
            v = bits.to(tl.int16).to(tl.float16, bitcast=True).to(tl.float32)
    else:
        b = (qw >> (8 * POS)) & 0xFF
        if FMT == 4:  # int8: flip the sign bit -> offset binary, then subtract the offset
            v = ((b ^ 0x80) | 0x4B000000).to(tl.float32, bitcast=True) - 8388736.0
        elif FMT == 5:
            bits = ((b & 0x80) << 8) | ((b & 0x7F) << 7)
            v = bits.to(tl.int16).to(tl.float16, bitcast=True).to(tl.float32)
        else:
            v = (b << 8).to(tl.int16).to(tl.float16, bitcast=True).to(tl.float32)
    return v


@triton.jit
def _k_range(K, BK: tl.constexpr, SPLIT_K: tl.constexpr):
    pid_k = tl.program_id(2)
    k_span = tl.cdiv(K, BK * SPLIT_K) * BK
    k_start = pid_k * k_span
    return k_start, tl.minimum(K, k_start + k_span)


# ----- kernels ------------------------------------------------------------------------------
@triton.jit
def _lowbit_gemv_kernel(x_ptr, q_ptr, q2_ptr, s_ptr, m_ptr, code_ptr, y_ptr, bias_ptr,
                        M, N, K, stride_xm, stride_qn, stride_q2n, stride_sn, stride_ym,
                        FMT: tl.constexpr, HAS_BIAS: tl.constexpr, BN: tl.constexpr,
                        BK: tl.constexpr, SPLIT_K: tl.constexpr, QB: tl.constexpr, E: tl.constexpr,
                        REBIAS: tl.constexpr):
    pid_n = tl.program_id(0)
    row = tl.program_id(1)
    offs_n = pid_n * BN + tl.arange(0, BN)
    n_mask = offs_n < N
    k_start, k_end = _k_range(K, BK, SPLIT_K)
    G: tl.constexpr = BK // QB
    WPG: tl.constexpr = QB // E
    # column of code 0 of each word; code i is WPG columns further
    xcol = tl.arange(0, G)[None, :, None] * QB + tl.arange(0, WPG)[None, None, :]
    x_row = x_ptr + row * stride_xm
    acc = tl.zeros((BN, G, WPG), dtype=tl.float32)
    for k0 in range(k_start, k_end, BK):
        qw, hw, s, m = _load_words(q_ptr, q2_ptr, s_ptr, m_ptr, offs_n, n_mask, k0, K, stride_qn, stride_q2n,
                                   stride_sn, FMT, BK, QB, E, REBIAS)
        part = tl.zeros((BN, G, WPG), dtype=tl.float32)
        xsum = tl.zeros((1, G, WPG), dtype=tl.float32)
        for i in tl.static_range(E):
            xi = tl.load(x_row + k0 + xcol + i * WPG, mask=k0 + xcol < K, other=0.0).to(tl.float32)
            part += _code_value(qw, hw, code_ptr, i, FMT) * xi
            if FMT == 1:
                xsum += xi
        if FMT == 6:
            acc += part
        elif FMT == 1:
            acc += part * s + xsum * m
        else:
            acc += part * s
    out = tl.sum(tl.sum(acc, axis=2), axis=1)
    if HAS_BIAS:
        if k_start == 0:
            out += tl.load(bias_ptr + offs_n, mask=n_mask, other=0.0).to(tl.float32)
    y = y_ptr + row * stride_ym + offs_n
    if SPLIT_K == 1:
        tl.store(y, out.to(y_ptr.dtype.element_ty), mask=n_mask)
    else:
        tl.atomic_add(y, out, mask=n_mask)


@triton.jit
def _lowbit_gemm_kernel(x_ptr, q_ptr, q2_ptr, s_ptr, m_ptr, code_ptr, y_ptr, bias_ptr,
                        M, N, K, stride_xm, stride_qn, stride_q2n, stride_sn, stride_ym,
                        FMT: tl.constexpr, HAS_BIAS: tl.constexpr, BM: tl.constexpr,
                        BN: tl.constexpr, BK: tl.constexpr, SPLIT_K: tl.constexpr,
                        GROUP_M: tl.constexpr, QB: tl.constexpr, E: tl.constexpr, REBIAS: tl.constexpr):
    pid = tl.program_id(0)
    num_m = tl.cdiv(M, BM)
    num_n = tl.cdiv(N, BN)
    group = GROUP_M * num_n
    first_m = (pid // group) * GROUP_M
    size_m = tl.minimum(num_m - first_m, GROUP_M)
    pid_m = first_m + (pid % group) % size_m
    pid_n = (pid % group) // size_m
    offs_m = pid_m * BM + tl.arange(0, BM)
    offs_n = pid_n * BN + tl.arange(0, BN)
    m_mask = offs_m < M
    n_mask = offs_n < N
    k_start, k_end = _k_range(K, BK, SPLIT_K)
    WPG: tl.constexpr = QB // E
    NW: tl.constexpr = BK // E
    w_idx = tl.arange(0, NW)
    xcol = (w_idx // WPG) * QB + w_idx % WPG  # column of code 0 of word w_idx of the tile
    x_rows = x_ptr + offs_m[:, None] * stride_xm
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k0 in range(k_start, k_end, BK):
        qw, hw, s, m = _load_words(q_ptr, q2_ptr, s_ptr, m_ptr, offs_n, n_mask, k0, K, stride_qn, stride_q2n,
                                   stride_sn, FMT, BK, QB, E, REBIAS)
        for i in tl.static_range(E):
            w = _code_value(qw, hw, code_ptr, i, FMT)
            if FMT == 1:
                w = w * s + m
            elif FMT != 6:
                w = w * s
            x = tl.load(x_rows + (k0 + xcol + i * WPG)[None, :], mask=m_mask[:, None] & (k0 + xcol < K)[None, :],
                        other=0.0)
            acc = tl.dot(x, tl.trans(tl.reshape(w, (BN, NW)).to(x.dtype)), acc)
    if HAS_BIAS:
        if k_start == 0:
            acc += tl.load(bias_ptr + offs_n, mask=n_mask, other=0.0).to(tl.float32)[None, :]
    y = y_ptr + offs_m[:, None] * stride_ym + offs_n[None, :]
    mask = m_mask[:, None] & n_mask[None, :]
    if SPLIT_K == 1:
        tl.store(y, acc.to(y_ptr.dtype.element_ty), mask=mask)
    else:
        tl.atomic_add(y, acc, mask=mask)


@triton.jit
def _lowbit_dequant_kernel(q_ptr, q2_ptr, s_ptr, m_ptr, code_ptr, w_ptr, N, K,
                           stride_qn, stride_q2n, stride_sn, stride_wn,
                           FMT: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, QB: tl.constexpr,
                           E: tl.constexpr, REBIAS: tl.constexpr):
    """Write the dequantized ``[N, K]`` weight (large M: dequantize once + dense matmul)."""
    offs_n = tl.program_id(0) * BN + tl.arange(0, BN)
    k0 = tl.program_id(1) * BK
    n_mask = offs_n < N
    qw, hw, s, m = _load_words(q_ptr, q2_ptr, s_ptr, m_ptr, offs_n, n_mask, k0, K, stride_qn, stride_q2n,
                               stride_sn, FMT, BK, QB, E, REBIAS)
    G: tl.constexpr = BK // QB
    WPG: tl.constexpr = QB // E
    col = k0 + tl.arange(0, G)[None, :, None] * QB + tl.arange(0, WPG)[None, None, :]
    out = w_ptr + offs_n[:, None, None] * stride_wn + col
    for i in tl.static_range(E):
        w = _code_value(qw, hw, code_ptr, i, FMT)
        if FMT == 1:
            w = w * s + m
        elif FMT != 6:
            w = w * s
        tl.store(out + i * WPG, w.to(w_ptr.dtype.element_ty), mask=n_mask[:, None, None] & (col < K))


# ----- launchers ----------------------------------------------------------------------------
_code_cache: dict[torch.device, torch.Tensor] = {}


def _nf4_table(device: torch.device) -> torch.Tensor:
    if device not in _code_cache:
        _code_cache[device] = NF4_CODE.to(device)
    return _code_cache[device]


def _operands(tensors: dict[str, torch.Tensor], fmt: str):
    _check_packed(tensors)
    q = tensors["qweight"]
    q2 = tensors.get("qhigh", q)
    s = tensors.get("scales", q)
    m = tensors.get("mins", s)
    k = q.shape[1] * codes_per_word(fmt)
    return q, q2, s, m, k


def _meta(tensors, fmt: str, k: int) -> dict:
    return {"FMT": FMT_IDS[fmt], "QB": quant_block(tensors, k), "E": codes_per_word(fmt),
            "REBIAS": SCALE_REBIAS.get(fmt, 1.0)}


def _output(m: int, n: int, x: torch.Tensor, split_k: int, out: torch.Tensor | None) -> torch.Tensor:
    """Split-K accumulates into a zeroed fp32 buffer; otherwise write ``out`` (or a new tensor)."""
    if split_k > 1:
        return torch.zeros((m, n), device=x.device, dtype=torch.float32)
    return out if out is not None else torch.empty((m, n), device=x.device, dtype=x.dtype)


def _finish(y: torch.Tensor, dtype: torch.dtype, split_k: int, out: torch.Tensor | None) -> torch.Tensor:
    if split_k == 1:
        return y
    if out is None:
        return y.to(dtype)
    return out.copy_(y)


def lowbit_gemv(x, tensors, fmt, bias=None, *, BN=None, BK=None, SPLIT_K=None, num_warps=None,
                num_stages=None, out=None):
    """``x[M, K] @ W^T`` with one program per ``BN`` output rows and activation row (for M = 1)."""
    fmt = canonical_name(fmt)
    m = x.shape[0]
    q, q2, s, mins, k = _operands(tensors, fmt)
    n = q.shape[0]
    meta = _meta(tensors, fmt, k)
    cfg = lowbit_tuning.config_for("gemv", fmt, m, n, k, x.device)
    BN = BN or cfg["BN"]
    BK = max(BK or cfg["BK"], meta["QB"])
    SPLIT_K = SPLIT_K or cfg["SPLIT_K"]
    y = _output(m, n, x, SPLIT_K, out)
    grid = (triton.cdiv(n, BN), m, SPLIT_K)
    _lowbit_gemv_kernel[grid](
        x, q, q2, s, mins, _nf4_table(x.device), y, bias if bias is not None else y,
        m, n, k, x.stride(0), q.stride(0), q2.stride(0), s.stride(0), y.stride(0),
        HAS_BIAS=bias is not None, BN=BN, BK=BK, SPLIT_K=SPLIT_K, **meta,
        num_warps=num_warps or cfg["num_warps"], num_stages=num_stages or cfg["num_stages"],
    )
    return _finish(y, x.dtype, SPLIT_K, out)


def lowbit_gemm(x, tensors, fmt, bias=None, *, BM=None, BN=None, BK=None, SPLIT_K=None,
                num_warps=None, num_stages=None, GROUP_M=8, out=None):
    """``x[M, K] @ W^T`` with ``tl.dot`` tiles (small and medium M)."""
    fmt = canonical_name(fmt)
    m = x.shape[0]
    q, q2, s, mins, k = _operands(tensors, fmt)
    n = q.shape[0]
    meta = _meta(tensors, fmt, k)
    cfg = lowbit_tuning.config_for("gemm", fmt, m, n, k, x.device)
    BM, BN = BM or cfg["BM"], BN or cfg["BN"]
    BK = max(BK or cfg["BK"], 16 * meta["E"])  # one dot per code position needs BK / E >= 16
    SPLIT_K = SPLIT_K or cfg["SPLIT_K"]
    y = _output(m, n, x, SPLIT_K, out)
    grid = (triton.cdiv(m, BM) * triton.cdiv(n, BN), 1, SPLIT_K)
    _lowbit_gemm_kernel[grid](
        x, q, q2, s, mins, _nf4_table(x.device), y, bias if bias is not None else y,
        m, n, k, x.stride(0), q.stride(0), q2.stride(0), s.stride(0), y.stride(0),
        HAS_BIAS=bias is not None, BM=BM, BN=BN, BK=BK, SPLIT_K=SPLIT_K, GROUP_M=GROUP_M, **meta,
        num_warps=num_warps or cfg["num_warps"], num_stages=num_stages or cfg["num_stages"],
    )
    return _finish(y, x.dtype, SPLIT_K, out)


def lowbit_dequantize(tensors: dict[str, torch.Tensor], fmt: str, dtype: torch.dtype) -> torch.Tensor:
    """Dequantize a whole weight on the device in one pass (same decode as the matmuls)."""
    fmt = canonical_name(fmt)
    q, q2, s, mins, k = _operands(tensors, fmt)
    n = q.shape[0]
    meta = _meta(tensors, fmt, k)
    w = torch.empty((n, k), device=q.device, dtype=dtype)
    bn, bk = 16, 256
    _lowbit_dequant_kernel[(triton.cdiv(n, bn), triton.cdiv(k, bk))](
        q, q2, s, mins, _nf4_table(q.device), w, n, k, q.stride(0), q2.stride(0), s.stride(0), w.stride(0),
        BN=bn, BK=bk, **meta, num_warps=4,
    )
    return w


GEMV_MAX_M = 1


def lowbit_matmul(x: torch.Tensor, tensors: dict[str, torch.Tensor], fmt: str, bias=None) -> torch.Tensor:
    """Dispatch by batch size: GEMV (M=1), Triton GEMM, or dequantize + dense matmul (large M)."""
    shape = x.shape
    x2 = x.reshape(-1, shape[-1])
    if not x2.is_contiguous():
        x2 = x2.contiguous()
    m = x2.shape[0]
    fmt = canonical_name(fmt)
    if m <= GEMV_MAX_M:
        y = lowbit_gemv(x2, tensors, fmt, bias)
    elif m >= lowbit_tuning.dense_min_m(fmt, x2.device):
        w = lowbit_dequantize(tensors, fmt, x2.dtype)
        y = torch.nn.functional.linear(x2, w, bias)
    else:
        y = lowbit_gemm(x2, tensors, fmt, bias)
    return y.reshape(*shape[:-1], y.shape[-1])
