"""The fused low-bit GEMM (``tl.dot`` over decoded weight tiles) and its launcher.

Up to 128 rows (or wherever the tuned table found it faster than dequantize + dense
matmul). Programs are grouped along M (``GROUP_M``) for L2 reuse of weight tiles; K is split
across programs when the output has too few tiles to fill the GPU. ``SWAP`` (configuration key)
computes the transposed tile, ``W x^T``: the decoded weights become the dot's first operand, which
matrix units can take straight from registers (Hopper's wgmma reads only its second operand from
shared memory; Intel's DPAS takes both from registers), and the batch rows its narrow side.
``X_BLOCK_IO`` reads the activation tile through a block pointer, which Intel's backend lowers
to 2D block reads (``DeviceFacts.block_pointer_loads``); the plain pointer load stays the path
everywhere else, and the only one a Triton without block pointers (3.9 on) ever compiles.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from vllm_ipex_plugin.kernels.common.device import DeviceFacts, device_facts
from vllm_ipex_plugin.kernels.lowbit.decode import load_weight_tile, split_k_range
from vllm_ipex_plugin.kernels.lowbit.formats import BLOCK, LowBitFormat, get_format
from vllm_ipex_plugin.kernels.lowbit.launch import (
    Launch,
    finish,
    matmul_operands,
    nf4_table,
    pick_block_k,
    quant_block,
)
from vllm_ipex_plugin.kernels.lowbit.tuning import table
from vllm_ipex_plugin.kernels.lowbit.tuning.intel import block_io_fits

GROUP_M = 8


@triton.jit
def _lowbit_gemm_kernel(x_ptr, q_ptr, q2_ptr, s_ptr, m_ptr, code_ptr, y_ptr, bias_ptr,
                        M, N, K, stride_xm, stride_qn, stride_q2n, stride_sn, stride_ym,
                        FMT: tl.constexpr, HAS_BIAS: tl.constexpr, BM: tl.constexpr,
                        BN: tl.constexpr, BK: tl.constexpr, SPLIT_K: tl.constexpr,
                        GROUP_M: tl.constexpr, QB: tl.constexpr, SWAP: tl.constexpr = False,
                        X_BLOCK_IO: tl.constexpr = False):
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
    k_start, k_end = split_k_range(K, BK, SPLIT_K, pid_k)
    if SWAP:  # the transposed tile, W x^T
        acc = tl.zeros((BN, BM), dtype=tl.float32)
    else:
        acc = tl.zeros((BM, BN), dtype=tl.float32)
    x_rows = x_ptr + offs_m[:, None] * stride_xm
    if X_BLOCK_IO:
        x_block = tl.make_block_ptr(x_ptr, (M, K), (stride_xm, 1), (pid_m * BM, k_start), (BM, BK), (1, 0))
    for k0 in range(k_start, k_end, BK):
        w = load_weight_tile(q_ptr, q2_ptr, s_ptr, m_ptr, code_ptr, offs_n, n_mask, k0,
                              stride_qn, stride_q2n, stride_sn, FMT, BK, QB)
        if X_BLOCK_IO:
            x = tl.load(x_block, boundary_check=(0, 1), padding_option="zero")
            x_block = tl.advance(x_block, (0, BK))
        else:
            x = tl.load(x_rows + (k0 + tl.arange(0, BK))[None, :], mask=m_mask[:, None], other=0.0)
        if SWAP:
            acc = tl.dot(w.to(x.dtype), tl.trans(x), acc)
        else:
            acc = tl.dot(x, tl.trans(w.to(x.dtype)), acc)
    if SWAP:
        acc = tl.trans(acc)
    if HAS_BIAS:
        if pid_k == 0:
            acc += tl.load(bias_ptr + offs_n, mask=n_mask, other=0.0).to(tl.float32)[None, :]
    y = y_ptr + offs_m[:, None] * stride_ym + offs_n[None, :]
    mask = m_mask[:, None] & n_mask[None, :]
    if SPLIT_K == 1:
        tl.store(y, acc.to(y_ptr.dtype.element_ty), mask=mask)
    else:
        tl.atomic_add(y, acc, mask=mask)


def gemm_grid(m: int, n: int, constexprs: dict) -> tuple[int, int]:
    return (triton.cdiv(m, constexprs["BM"]) * triton.cdiv(n, constexprs["BN"]), constexprs["SPLIT_K"])


def gemm_launch(spec: LowBitFormat, m: int, n: int, k: int, cfg: dict, *, qb: int = BLOCK,
                has_bias: bool = False, group_m: int = GROUP_M, facts: DeviceFacts | None = None) -> Launch:
    """The GEMM launch for an ``[m, k] x [n, k]^T`` product under configuration ``cfg``
    (``BM``, ``BN``, ``BK``, ``SPLIT_K``, ``num_warps``, ``num_stages``, optional ``SWAP`` and
    ``X_BLOCK_IO``; the latter defaults to ``facts.block_pointer_loads`` for plain tiles that fit
    without spilling, ``intel.block_io_fits``, and is off without ``facts``: the swapped tile's transposed
    activations do not come out of Intel's compiler as 2D block reads)."""
    swap = bool(cfg.get("SWAP", False))
    block_io = cfg.get("X_BLOCK_IO")
    if block_io is None:
        block_io = (facts is not None and facts.block_pointer_loads and not swap
                    and block_io_fits(spec.name, cfg["BM"], cfg["BN"]))
    constexprs = {"FMT": int(spec.id), "HAS_BIAS": has_bias, "BM": cfg["BM"], "BN": cfg["BN"],
                  "BK": pick_block_k(k, cfg["BK"]), "SPLIT_K": cfg["SPLIT_K"], "GROUP_M": group_m, "QB": qb,
                  "SWAP": swap, "X_BLOCK_IO": bool(block_io)}
    return Launch(_lowbit_gemm_kernel, constexprs, cfg["num_warps"], cfg["num_stages"], gemm_grid(m, n, constexprs),
                  dict(cfg.get("options", {})))


def run_gemm(launch: Launch, x: torch.Tensor, tensors: dict[str, torch.Tensor], spec: LowBitFormat,
             bias: torch.Tensor | None = None, out: torch.Tensor | None = None) -> torch.Tensor:
    """Run a :func:`gemm_launch` on ``x [m, k]`` (contiguous rows); ``out``: where to write."""
    m, n, k, (q, q2, s, mins), y = matmul_operands(launch, x, tensors, spec, out)
    launch.run(gemm_grid(m, n, launch.constexprs), x, q, q2, s, mins, nf4_table(x.device), y,
               bias if bias is not None else y, m, n, k, x.stride(0), q.stride(0), q2.stride(0), s.stride(0),
               y.stride(0))
    return finish(y, x.dtype, launch.constexprs["SPLIT_K"], out)


def lowbit_gemm(x, tensors, fmt, bias=None, *, BM=None, BN=None, BK=None, SPLIT_K=None,
                num_warps=None, num_stages=None, SWAP=None, X_BLOCK_IO=None, GROUP_M=GROUP_M, out=None):
    """GEMM with the device's configuration for the shape, any of it overridden by the arguments."""
    spec = get_format(fmt)
    m, k = x.shape
    n = tensors[spec.payload].shape[0]
    facts = device_facts(x.device)
    given = {"BM": BM, "BN": BN, "BK": BK, "SPLIT_K": SPLIT_K, "num_warps": num_warps, "num_stages": num_stages,
             "SWAP": SWAP, "X_BLOCK_IO": X_BLOCK_IO}
    cfg = {**table.gemm_config(spec.name, m, n, k, facts), **{a: v for a, v in given.items() if v is not None}}
    launch = gemm_launch(spec, m, n, k, cfg, qb=quant_block(tensors, spec, k), has_bias=bias is not None,
                         group_m=GROUP_M, facts=facts)
    return run_gemm(launch, x, tensors, spec, bias, out)
