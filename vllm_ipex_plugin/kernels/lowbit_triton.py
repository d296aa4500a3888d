"""Triton weight-only matmul for every ``ipex_low_bit`` format: ``y = x @ dequant(W)^T``.

One source for Intel's XPU Triton backend and for CUDA: plain loads, integer unpacking
and bit casts, ``tl.dot``; no inline assembly or vendor intrinsics. Layout: see
``lowbit_reference`` (row-major payload, ``[N, K/64]`` scales). Decoding tricks:

- fp8_e5m2 is the top byte of an fp16: ``bits << 8``.
- fp8_e4m3 is an fp16 whose exponent field holds the 4-bit exponent: place
  ``sign << 15 | (exp_mant << 7)`` and multiply by 2^8 (covers subnormals too).
- fp6 (e3m2, bias 3) likewise: ``sign << 15 | exp << 10 | mant << 8`` times 2^12.
- 4-bit and int8 codes: OR-ed into the mantissa of 2^23, then 2^23 subtracted (no
  int->float conversion).

Three kernels share one tile decoder: a GEMV (M = 1; elementwise products reduced once
per program), a ``tl.dot`` GEMM, and a dequantize kernel for the large-M path
(dequantize once + dense matmul). GEMV and GEMM split K across programs when the output
has too few tiles to fill the GPU (fp32 atomics into a zeroed buffer); ``lowbit_matmul``
picks the kernel by batch size. For the 4-bit formats a second GEMV
(``_lowbit_gemv_pairs_kernel``) skips the interleave altogether; the tuner picks between
the two. Launch configurations come from ``lowbit_tuning`` (tuned per device and shape,
cached on disk) or its heuristics.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from vllm_ipex_plugin.kernels import lowbit_tuning
from vllm_ipex_plugin.kernels.lowbit_formats import BLOCK, canonical_name
from vllm_ipex_plugin.kernels.lowbit_reference import NF4_CODE

FMT_IDS = {"sym_int4": 0, "asym_int4": 1, "nf4": 2, "fp6": 3, "sym_int8": 4, "fp8_e4m3": 5, "fp8_e5m2": 6}
PACKED = {"sym_int4", "asym_int4", "nf4", "fp6"}  # two codes per byte (fp6: low nibbles)
PAIR_FORMATS = {"sym_int4", "asym_int4", "nf4"}  # formats the paired-nibble GEMV takes


@triton.jit
def _small_int_to_float(q, offset: tl.constexpr):
    """``float(q) - offset`` for ints ``0 <= q < 2^23`` without an int->float conversion.

    OR-ing ``q`` into the mantissa of 2^23 gives the float ``2^23 + q`` exactly; one
    subtraction removes 2^23 and the offset. Two full-rate ALU ops instead of a conversion,
    which runs at a fraction of the FMA rate and bounds the GEMV otherwise.
    """
    return (q | 0x4B000000).to(tl.float32, bitcast=True) - (8388608.0 + offset)


@triton.jit
def _decode_nibbles(q, s, m, code_ptr, FMT: tl.constexpr):
    """4-bit codes (int32) -> fp32 weights; ``s``/``m`` broadcast per block."""
    if FMT == 0:
        w = _small_int_to_float(q, 8.0) * s
    elif FMT == 1:
        w = _small_int_to_float(q, 0.0) * s + m
    else:
        w = tl.load(code_ptr + q) * s
    return w


@triton.jit
def _decode_fp6(code, s):
    bits = ((code & 0x20) << 10) | ((code & 0x1C) << 8) | ((code & 0x3) << 8)
    return bits.to(tl.int16).to(tl.float16, bitcast=True).to(tl.float32) * (4096.0 * s)


@triton.jit
def _decode_bytes(b, s, FMT: tl.constexpr):
    """8-bit codes (int32 from uint8 / int8 loads) -> fp32 weights."""
    if FMT == 4:  # int8 loaded sign-extended: offset binary, then remove the offset
        w = _small_int_to_float(b + 128, 128.0) * s
    elif FMT == 5:
        bits = ((b & 0x80) << 8) | ((b & 0x7F) << 7)
        w = bits.to(tl.int16).to(tl.float16, bitcast=True).to(tl.float32) * (256.0 * s)
    else:
        w = (b << 8).to(tl.int16).to(tl.float16, bitcast=True).to(tl.float32)
    return w


@triton.jit
def _load_weight_tile(q_ptr, q2_ptr, s_ptr, m_ptr, code_ptr, offs_n, n_mask, k0,
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
    if FMT <= 3:
        t = tl.arange(0, QB // 2)
        col = (k0 // 2 + g[:, None] * (QB // 2) + t[None, :])[None, :, :]
        qb = tl.load(q_ptr + rows * stride_qn + col, mask=rmask, other=0).to(tl.int32)
        q = tl.join(qb & 0xF, (qb >> 4) & 0xF)  # [BN, G, 32, 2]: column 2t + i
        s = tl.load(s_ptr + sidx, mask=rmask, other=0.0).to(tl.float32)[:, :, :, None]
        if FMT == 3:
            h = tl.arange(0, 16)
            hcol = (k0 // 4 + g[:, None] * 16 + h[None, :])[None, :, :]
            qh = tl.load(q2_ptr + rows * stride_q2n + hcol, mask=rmask, other=0).to(tl.int32)
            # byte j holds columns 4j + i at bits 2i: interleave to [BN, G, 16, 2, 2]
            high = tl.join(tl.join(qh & 3, (qh >> 4) & 3), tl.join((qh >> 2) & 3, (qh >> 6) & 3))
            high = tl.reshape(high, (BN, G, QB // 2, 2))
            w = _decode_fp6(q | (high << 4), s)
        else:
            if FMT == 1:
                m = tl.load(m_ptr + sidx, mask=rmask, other=0.0).to(tl.float32)[:, :, :, None]
            else:
                m = s
            w = _decode_nibbles(q, s, m, code_ptr, FMT)
    else:
        t = tl.arange(0, 64)
        col = (k0 + g[:, None] * 64 + t[None, :])[None, :, :]
        b = tl.load(q_ptr + rows * stride_qn + col, mask=rmask, other=0).to(tl.int32)
        if FMT == 6:
            s = 1.0
        else:
            s = tl.load(s_ptr + sidx, mask=rmask, other=0.0).to(tl.float32)
        w = _decode_bytes(b, s, FMT)
    return tl.reshape(w, (BN, BK))


@triton.jit
def _split_k_range(K, BK: tl.constexpr, SPLIT_K: tl.constexpr, pid_k):
    """Columns ``[start, end)`` of split ``pid_k``: BK-aligned spans, the last one clipped to K."""
    k_span = tl.cdiv(K, BK * SPLIT_K) * BK
    k_start = pid_k * k_span
    return k_start, tl.minimum(K, k_start + k_span)


@triton.jit
def _store_gemv_row(out, y_row, bias_ptr, offs_n, n_mask, pid_k, HAS_BIAS: tl.constexpr, SPLIT_K: tl.constexpr):
    """One activation row's outputs: bias added by the first split only; atomics when split."""
    if HAS_BIAS:
        if pid_k == 0:
            out += tl.load(bias_ptr + offs_n, mask=n_mask, other=0.0).to(tl.float32)
    if SPLIT_K == 1:
        tl.store(y_row + offs_n, out.to(y_row.dtype.element_ty), mask=n_mask)
    else:
        tl.atomic_add(y_row + offs_n, out, mask=n_mask)


@triton.jit
def _lowbit_gemv_kernel(x_ptr, q_ptr, q2_ptr, s_ptr, m_ptr, code_ptr, y_ptr, bias_ptr,
                        M, N, K, stride_xm, stride_qn, stride_q2n, stride_sn, stride_ym,
                        FMT: tl.constexpr, HAS_BIAS: tl.constexpr, BN: tl.constexpr,
                        BK: tl.constexpr, SPLIT_K: tl.constexpr, QB: tl.constexpr):
    pid_n = tl.program_id(0)
    row = tl.program_id(1)
    pid_k = tl.program_id(2)
    offs_n = pid_n * BN + tl.arange(0, BN)
    n_mask = offs_n < N
    k_start, k_end = _split_k_range(K, BK, SPLIT_K, pid_k)
    x_row = x_ptr + row * stride_xm
    acc = tl.zeros((BN, BK), dtype=tl.float32)
    for k0 in range(k_start, k_end, BK):
        w = _load_weight_tile(q_ptr, q2_ptr, s_ptr, m_ptr, code_ptr, offs_n, n_mask, k0,
                              stride_qn, stride_q2n, stride_sn, FMT, BK, QB)
        x = tl.load(x_row + k0 + tl.arange(0, BK)).to(tl.float32)
        acc += w * x[None, :]
    _store_gemv_row(tl.sum(acc, axis=1), y_ptr + row * stride_ym, bias_ptr, offs_n, n_mask, pid_k, HAS_BIAS,
                    SPLIT_K)


@triton.jit
def _lowbit_gemv_pairs_kernel(x_ptr, q_ptr, s_ptr, m_ptr, code_ptr, y_ptr, bias_ptr,
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
    k_start, k_end = _split_k_range(K, BK, SPLIT_K, pid_k)
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
        if FMT == 0:
            part = _small_int_to_float(lo, 8.0) * x_lo + _small_int_to_float(hi, 8.0) * x_hi
            acc += part * s
        elif FMT == 1:
            part = _small_int_to_float(lo, 0.0) * x_lo + _small_int_to_float(hi, 0.0) * x_hi
            m = tl.load(m_ptr + sidx, mask=rmask, other=0.0).to(tl.float32)
            acc += part * s + (x_lo + x_hi) * m
        else:
            part = tl.load(code_ptr + lo) * x_lo + tl.load(code_ptr + hi) * x_hi
            acc += part * s
    _store_gemv_row(tl.sum(tl.sum(acc, axis=2), axis=1), y_ptr + row * stride_ym, bias_ptr, offs_n, n_mask, pid_k,
                    HAS_BIAS, SPLIT_K)


@triton.jit
def _lowbit_gemm_kernel(x_ptr, q_ptr, q2_ptr, s_ptr, m_ptr, code_ptr, y_ptr, bias_ptr,
                        M, N, K, stride_xm, stride_qn, stride_q2n, stride_sn, stride_ym,
                        FMT: tl.constexpr, HAS_BIAS: tl.constexpr, BM: tl.constexpr,
                        BN: tl.constexpr, BK: tl.constexpr, SPLIT_K: tl.constexpr,
                        GROUP_M: tl.constexpr, QB: tl.constexpr):
    pid = tl.program_id(0)
    pid_k = tl.program_id(1)
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
    k_start, k_end = _split_k_range(K, BK, SPLIT_K, pid_k)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    x_rows = x_ptr + offs_m[:, None] * stride_xm
    for k0 in range(k_start, k_end, BK):
        w = _load_weight_tile(q_ptr, q2_ptr, s_ptr, m_ptr, code_ptr, offs_n, n_mask, k0,
                              stride_qn, stride_q2n, stride_sn, FMT, BK, QB)
        x = tl.load(x_rows + (k0 + tl.arange(0, BK))[None, :], mask=m_mask[:, None], other=0.0)
        acc = tl.dot(x, tl.trans(w.to(x.dtype)), acc)
    if HAS_BIAS:
        if pid_k == 0:
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
                           FMT: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, QB: tl.constexpr):
    """Write the dequantized ``[N, K]`` weight (for large M: dequantize + dense matmul)."""
    offs_n = tl.program_id(0) * BN + tl.arange(0, BN)
    k0 = tl.program_id(1) * BK
    n_mask = offs_n < N
    w = _load_weight_tile(q_ptr, q2_ptr, s_ptr, m_ptr, code_ptr, offs_n, n_mask, k0,
                          stride_qn, stride_q2n, stride_sn, FMT, BK, QB)
    cols = k0 + tl.arange(0, BK)
    tl.store(w_ptr + offs_n[:, None] * stride_wn + cols[None, :], w.to(w_ptr.dtype.element_ty),
             mask=n_mask[:, None])


_code_cache: dict[torch.device, torch.Tensor] = {}


def _nf4_table(device: torch.device) -> torch.Tensor:
    if device not in _code_cache:
        _code_cache[device] = NF4_CODE.to(device)
    return _code_cache[device]


def _operands(tensors: dict[str, torch.Tensor], fmt: str):
    q = tensors["qlow"] if fmt == "fp6" else tensors["qweight"]
    q2 = tensors.get("qhigh", q)
    s = tensors.get("scales", q)
    m = tensors.get("mins", s)
    return q, q2, s, m


def _quant_block(tensors: dict[str, torch.Tensor], fmt: str, k: int) -> int:
    """Columns per scale: 64, or 32 for asym_int4 converted from group-size-32 AWQ/GPTQ."""
    if "scales" not in tensors:
        return BLOCK
    qb = k // tensors["scales"].shape[1]
    if qb not in (32, 64):
        raise ValueError(f"{fmt}: {qb} columns per scale; the kernels take 32 or 64")
    return qb


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


def _pick_block_k(k: int, want: int) -> int:
    bk = want
    while k % bk:
        bk //= 2
    return max(bk, BLOCK)


def lowbit_gemv(x, tensors, fmt, bias=None, *, BN=None, BK=None, SPLIT_K=None, num_warps=None,
                num_stages=None, PAIRS=None, out=None):
    fmt = canonical_name(fmt)
    m, k = x.shape
    q, q2, s, mins = _operands(tensors, fmt)
    n = q.shape[0]
    cfg = lowbit_tuning.config_for("gemv", fmt, m, n, k, x.device)
    BN = BN or cfg["BN"]
    if PAIRS is None:
        PAIRS = cfg.get("PAIRS", False)
    PAIRS = PAIRS and fmt in PAIR_FORMATS
    if not PAIRS and x.device.type != "cpu" and BN not in GEMV_SAFE_ROWS:
        raise ValueError(f"GEMV rows per program must be one of {GEMV_SAFE_ROWS} (got {BN}); see GEMV_SAFE_ROWS")
    BK = _pick_block_k(k, BK or cfg["BK"])
    SPLIT_K = SPLIT_K or cfg["SPLIT_K"]
    out_dtype = x.dtype
    y = _output(m, n, x, SPLIT_K, out)
    grid = (triton.cdiv(n, BN), m, SPLIT_K)
    if PAIRS:
        x_kind = {torch.float16: 1, torch.bfloat16: 2}.get(x.dtype, 0)
        xv = x.view(torch.int32) if x_kind else x  # one 32-bit word per column pair
        _lowbit_gemv_pairs_kernel[grid](
            xv, q, s, mins, _nf4_table(x.device), y, bias if bias is not None else y,
            m, n, k, xv.stride(0), q.stride(0), s.stride(0), y.stride(0),
            FMT=FMT_IDS[fmt], HAS_BIAS=bias is not None, BN=BN, BK=BK, SPLIT_K=SPLIT_K,
            QB=_quant_block(tensors, fmt, k), X_KIND=x_kind,
            num_warps=num_warps or cfg["num_warps"], num_stages=num_stages or cfg["num_stages"],
        )
        return _finish(y, out_dtype, SPLIT_K, out)
    _lowbit_gemv_kernel[grid](
        x, q, q2, s, mins, _nf4_table(x.device), y, bias if bias is not None else y,
        m, n, k, x.stride(0), q.stride(0), q2.stride(0), s.stride(0), y.stride(0),
        FMT=FMT_IDS[fmt], HAS_BIAS=bias is not None, BN=BN, BK=BK, SPLIT_K=SPLIT_K,
        QB=_quant_block(tensors, fmt, k),
        num_warps=num_warps or cfg["num_warps"], num_stages=num_stages or cfg["num_stages"],
    )
    return _finish(y, out_dtype, SPLIT_K, out)


def lowbit_gemm(x, tensors, fmt, bias=None, *, BM=None, BN=None, BK=None, SPLIT_K=None,
                num_warps=None, num_stages=None, GROUP_M=8, out=None):
    fmt = canonical_name(fmt)
    m, k = x.shape
    q, q2, s, mins = _operands(tensors, fmt)
    n = q.shape[0]
    cfg = lowbit_tuning.gemm_config(fmt, m, n, k, x.device)
    BM, BN = BM or cfg["BM"], BN or cfg["BN"]
    BK = _pick_block_k(k, BK or cfg["BK"])
    SPLIT_K = SPLIT_K or cfg["SPLIT_K"]
    out_dtype = x.dtype
    y = _output(m, n, x, SPLIT_K, out)
    grid = (triton.cdiv(m, BM) * triton.cdiv(n, BN), SPLIT_K)
    _lowbit_gemm_kernel[grid](
        x, q, q2, s, mins, _nf4_table(x.device), y, bias if bias is not None else y,
        m, n, k, x.stride(0), q.stride(0), q2.stride(0), s.stride(0), y.stride(0),
        FMT=FMT_IDS[fmt], HAS_BIAS=bias is not None, BM=BM, BN=BN, BK=BK, SPLIT_K=SPLIT_K,
        GROUP_M=GROUP_M, QB=_quant_block(tensors, fmt, k), num_warps=num_warps or cfg["num_warps"],
        num_stages=num_stages or cfg["num_stages"],
    )
    return _finish(y, out_dtype, SPLIT_K, out)


# Triton 3.6 on the H100 returned wrong GEMV results for 2, 4 and 8 rows per program with
# several warp counts (checked config by config, BENCHMARKS.md); 1 and 16 rows were right in
# every case, so only those are accepted (the tuner also drops any config it finds wrong).
GEMV_SAFE_ROWS = lowbit_tuning.GEMV_SAFE_ROWS


GEMV_MAX_M = 1


def lowbit_matmul(x: torch.Tensor, tensors: dict[str, torch.Tensor], fmt: str, bias=None) -> torch.Tensor:
    """Dispatch by batch size: GEMV (M=1), Triton GEMM, or dequantize + dense matmul (large M;
    where the tuned table has the shape, whichever of the two was faster there)."""
    shape = x.shape
    x2 = x.reshape(-1, shape[-1])
    if not x2.is_contiguous():
        x2 = x2.contiguous()
    m = x2.shape[0]
    fmt = canonical_name(fmt)
    k = x2.shape[1]
    n = (tensors["qlow"] if fmt == "fp6" else tensors["qweight"]).shape[0]
    path = "gemv" if m <= GEMV_MAX_M else lowbit_tuning.choose_path(fmt, m, n, k, x2.device)
    if path == "gemv":
        y = lowbit_gemv(x2, tensors, fmt, bias)
    elif path == "dense":
        w = lowbit_dequantize(tensors, fmt, x2.dtype)
        y = torch.nn.functional.linear(x2, w, bias)
    else:
        y = lowbit_gemm(x2, tensors, fmt, bias)
    return y.reshape(*shape[:-1], y.shape[-1])


def lowbit_dequantize(tensors: dict[str, torch.Tensor], fmt: str, dtype: torch.dtype) -> torch.Tensor:
    """Dequantize a whole weight on the device in one pass (same decode as the matmuls)."""
    fmt = canonical_name(fmt)
    q, q2, s, mins = _operands(tensors, fmt)
    n = q.shape[0]
    k = q.shape[1] * (2 if fmt in PACKED else 1)
    w = torch.empty((n, k), device=q.device, dtype=dtype)
    bn, bk = 32, _pick_block_k(k, 128)
    _lowbit_dequant_kernel[(triton.cdiv(n, bn), k // bk)](
        q, q2, s, mins, _nf4_table(q.device), w, n, k, q.stride(0), q2.stride(0), s.stride(0), w.stride(0),
        FMT=FMT_IDS[fmt], BN=bn, BK=bk, QB=_quant_block(tensors, fmt, k), num_warps=4,
    )
    return w
