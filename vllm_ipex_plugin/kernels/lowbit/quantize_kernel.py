"""Triton quantize kernel: float ``W[N, K]`` -> the stored tensors of an ``ipex_low_bit`` format.

Produces exactly what ``reference.quantize`` produces (same layout, same codes, same
scales): the same fp32 operations in the same order, divisions rounded to nearest
(``div_rn``), and fp8/fp6 rounding done on the float's bits (round to nearest even,
subnormals by adding and subtracting 2^23). Floating-point contraction is turned off on
CUDA so ``x * inv + 0.5`` rounds twice like torch does; other backends get the option
where they accept it.

One program quantizes ``BN`` rows x ``G`` blocks of 64 columns, so quantize-on-load runs
on the device at memory speed instead of on the host.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from vllm_ipex_plugin.kernels.common.device import DeviceFacts, device_facts
from vllm_ipex_plugin.kernels.lowbit.decode import ASYM_INT4, FP8_E4M3, FP8_E5M2, NF4, SYM_INT4, SYM_INT8
from vllm_ipex_plugin.kernels.lowbit.formats import BLOCK, LowBitFormat, get_format
from vllm_ipex_plugin.kernels.lowbit.launch import Launch
from vllm_ipex_plugin.kernels.lowbit.reference import code_table
from vllm_ipex_plugin.kernels.lowbit.tuning.intel import small_kernel_launch


@triton.jit
def _safe_inverse(d):
    return tl.where(d == 0, 0.0, tl.math.div_rn(tl.full(d.shape, 1.0, tl.float32), tl.where(d == 0, 1.0, d)))


@triton.jit
def _round_float(a, MB: tl.constexpr, BIAS: tl.constexpr):
    """Code (exponent << MB | mantissa) of ``a >= 0`` in a float format, round to nearest even."""
    bits = a.to(tl.int32, bitcast=True)
    drop: tl.constexpr = 23 - MB
    r = bits + ((1 << (drop - 1)) - 1) + ((bits >> drop) & 1)
    normal = (r >> drop) - ((127 - BIAS) << MB)
    sub_scale: tl.constexpr = 2.0 ** (BIAS - 1 + MB)
    sub = ((a * sub_scale + 8388608.0) - 8388608.0).to(tl.int32)
    return tl.where(a < 2.0 ** (1 - BIAS), sub, normal)


@triton.jit
def _pack_nibbles(codes, BN: tl.constexpr, G: tl.constexpr):
    lo, hi = tl.split(tl.reshape(codes, (BN, G, 32, 2)))
    return (lo | (hi << 4)).to(tl.uint8)


@triton.jit
def _quantize_kernel(w_ptr, q_ptr, q2_ptr, s_ptr, m_ptr, mids_ptr, N, K,
                     stride_wn, stride_qn, stride_q2n, stride_sn,
                     FMT: tl.constexpr, BN: tl.constexpr, G: tl.constexpr, QMAX: tl.constexpr):
    rows = (tl.program_id(0) * BN + tl.arange(0, BN))[:, None, None]
    g = tl.arange(0, G)[None, :, None]
    k0 = tl.program_id(1) * G * 64
    blk = k0 // 64 + g
    mask = (rows < N) & (k0 + g * 64 < K)
    col = k0 + g * 64 + tl.arange(0, 64)[None, None, :]
    x = tl.load(w_ptr + rows * stride_wn + col, mask=mask, other=0.0).to(tl.float32)
    sidx = rows * stride_sn + blk
    if FMT == FP8_E5M2:
        v = tl.minimum(tl.maximum(x, -57344.0), 57344.0)  # formats.E5M2_MAX
        code = _round_float(tl.abs(v), 2, 15) | ((v.to(tl.int32, bitcast=True) >> 24) & 0x80)
        tl.store(q_ptr + rows * stride_qn + col, code.to(tl.uint8), mask=mask)
    elif FMT == ASYM_INT4:
        lo = tl.min(x, axis=2, keep_dims=True)
        hi = tl.max(x, axis=2, keep_dims=True)
        d = tl.math.div_rn(hi - lo, tl.full(lo.shape, 15.0, tl.float32))
        code = tl.clamp(tl.floor((x - lo) * _safe_inverse(d) + 0.5), 0.0, 15.0).to(tl.int32)
        tl.store(q_ptr + rows * stride_qn + k0 // 2 + g * 32 + tl.arange(0, 32)[None, None, :],
                 _pack_nibbles(code, BN, G), mask=mask)
        tl.store(s_ptr + sidx, d.to(tl.float16), mask=mask)
        tl.store(m_ptr + sidx, lo.to(tl.float16), mask=mask)
    elif FMT == SYM_INT4:
        ax = tl.abs(x)
        amax = tl.max(ax, axis=2, keep_dims=True)
        pos = tl.arange(0, 64)[None, None, :]
        first = tl.min(tl.where(ax == amax, pos, 64), axis=2, keep_dims=True)
        # the signed value itself (a sum would turn -0.0 into +0.0)
        d = tl.max(tl.where(pos == first, x, float("-inf")), axis=2, keep_dims=True) * -0.125
        code = tl.clamp(tl.floor(x * _safe_inverse(d) + 8.5), 0.0, 15.0).to(tl.int32)
        tl.store(q_ptr + rows * stride_qn + k0 // 2 + g * 32 + tl.arange(0, 32)[None, None, :],
                 _pack_nibbles(code, BN, G), mask=mask)
        tl.store(s_ptr + sidx, d.to(tl.float16), mask=mask)
    else:
        amax = tl.max(tl.abs(x), axis=2, keep_dims=True)
        if FMT == NF4:
            v = x * _safe_inverse(amax)
            code = tl.zeros(x.shape, tl.int32)
            for j in tl.static_range(15):
                mid = tl.load(mids_ptr + j)
                code += (v > mid).to(tl.int32)
                if j % 2 == 1:  # exactly on an odd midpoint: ties go to the even code above
                    code += (v == mid).to(tl.int32)
            tl.store(q_ptr + rows * stride_qn + k0 // 2 + g * 32 + tl.arange(0, 32)[None, None, :],
                     _pack_nibbles(code, BN, G), mask=mask)
            tl.store(s_ptr + sidx, amax.to(tl.float16), mask=mask)
        else:
            d = tl.math.div_rn(amax, tl.full(amax.shape, QMAX, tl.float32))
            v = x * _safe_inverse(d)
            if FMT == SYM_INT8:
                q = tl.clamp(tl.floor(tl.abs(v) + 0.5), 0.0, 127.0)
                q = tl.where(v < 0, -q, q)
                tl.store(q_ptr + rows * stride_qn + col, q.to(tl.int8), mask=mask)
                tl.store(s_ptr + sidx, d, mask=mask)
            elif FMT == FP8_E4M3:
                v = tl.minimum(tl.maximum(v, -QMAX), QMAX)
                code = _round_float(tl.abs(v), 3, 7) | ((v.to(tl.int32, bitcast=True) >> 24) & 0x80)
                tl.store(q_ptr + rows * stride_qn + col, code.to(tl.uint8), mask=mask)
                tl.store(s_ptr + sidx, d, mask=mask)
            else:  # fp6: e3m2 magnitude, sign bit 5
                code = _round_float(tl.minimum(tl.abs(v), QMAX), 2, 3) | tl.where(v < 0, 0x20, 0)
                tl.store(q_ptr + rows * stride_qn + k0 // 2 + g * 32 + tl.arange(0, 32)[None, None, :],
                         _pack_nibbles(code & 0xF, BN, G), mask=mask)
                high = tl.reshape((code >> 4) & 3, (BN, G, 16, 2, 2))
                even, odd = tl.split(high)  # columns 4j + 2p and 4j + 2p + 1
                c0, c2 = tl.split(even)
                c1, c3 = tl.split(odd)
                packed = (c0 | (c1 << 2) | (c2 << 4) | (c3 << 6)).to(tl.uint8)
                tl.store(q2_ptr + rows * stride_q2n + k0 // 4 + g * 16 + tl.arange(0, 16)[None, None, :],
                         packed, mask=mask)
                tl.store(s_ptr + sidx, d.to(tl.float16), mask=mask)


_mids_cache: dict[torch.device, torch.Tensor] = {}


def _nf4_mids(device: torch.device) -> torch.Tensor:
    if device not in _mids_cache:
        code = code_table("nf4", device)
        _mids_cache[device] = ((code[1:] + code[:-1]) / 2).contiguous()
    return _mids_cache[device]


def quantize_grid(n: int, k: int, constexprs: dict) -> tuple[int, int]:
    return (triton.cdiv(n, constexprs["BN"]), triton.cdiv(k, constexprs["G"] * BLOCK))


def quantize_launch(spec: LowBitFormat, n: int, k: int, facts: DeviceFacts, *, BN: int = 16, G: int = 2) -> Launch:
    """The launch that quantizes an ``[n, k]`` weight on the device ``facts`` describes:
    floating-point contraction off on CUDA, so ``x * inv + 0.5`` rounds twice like torch does."""
    constexprs = {"FMT": int(spec.id), "BN": BN, "G": G, "QMAX": spec.maximum}
    warps, options = small_kernel_launch(facts)
    if facts.vendor == "cuda":
        options["enable_fp_fusion"] = False
    return Launch(_quantize_kernel, constexprs, warps or 4, None, quantize_grid(n, k, constexprs), options)


def lowbit_quantize(w: torch.Tensor, fmt, *, BN: int = 16, G: int = 2) -> dict[str, torch.Tensor]:
    """Quantize ``w[N, K]`` (fp16/bf16/fp32) on its device; same tensors as ``reference.quantize``."""
    spec = get_format(fmt)
    if not spec.quantized:
        raise ValueError(f"{spec.name} is not a quantized format")
    n, k = w.shape
    if k % BLOCK:
        raise ValueError(f"input size {k} is not a multiple of {BLOCK}")
    if w.stride(-1) != 1:
        w = w.contiguous()
    out = {name: torch.empty(shape, dtype=dtype, device=w.device)
           for name, (shape, dtype) in spec.tensor_shapes(n, k).items()}
    q = out[spec.payload]
    q2 = out.get("qhigh", q)
    s = out.get("scales", q)
    m = out.get("mins", s)
    launch = quantize_launch(spec, n, k, device_facts(w.device), BN=BN, G=G)
    launch.run(launch.grid, w, q, q2, s, m, _nf4_mids(w.device), n, k, w.stride(0), q.stride(0), q2.stride(0),
               s.stride(0))
    return out
