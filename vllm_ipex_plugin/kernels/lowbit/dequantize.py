"""The dequantize kernel (the large-M path: dequantize once, then a dense matmul) and its launcher."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from vllm_ipex_plugin.kernels.common.device import DeviceFacts, device_facts
from vllm_ipex_plugin.kernels.lowbit.decode import load_weight_tile
from vllm_ipex_plugin.kernels.lowbit.formats import BLOCK, LowBitFormat, get_format
from vllm_ipex_plugin.kernels.lowbit.launch import Launch, nf4_table, operands, pick_block_k, quant_block
from vllm_ipex_plugin.kernels.lowbit.tuning.intel import small_kernel_launch

BN = 32  # rows per program
BK = 128  # columns per program (fewer where K is not a multiple)
NUM_WARPS = 4


@triton.jit
def _lowbit_dequant_kernel(q_ptr, q2_ptr, s_ptr, m_ptr, code_ptr, w_ptr, N, K,
                           stride_qn, stride_q2n, stride_sn, stride_wn,
                           FMT: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, QB: tl.constexpr):
    """Write the dequantized ``[N, K]`` weight (for large M: dequantize + dense matmul)."""
    offs_n = tl.program_id(0) * BN + tl.arange(0, BN)
    k0 = tl.program_id(1) * BK
    n_mask = offs_n < N
    w = load_weight_tile(q_ptr, q2_ptr, s_ptr, m_ptr, code_ptr, offs_n, n_mask, k0,
                          stride_qn, stride_q2n, stride_sn, FMT, BK, QB)
    cols = k0 + tl.arange(0, BK)
    tl.store(w_ptr + offs_n[:, None] * stride_wn + cols[None, :], w.to(w_ptr.dtype.element_ty),
             mask=n_mask[:, None])


def dequantize_launch(spec: LowBitFormat, n: int, k: int, *, qb: int = BLOCK, facts: DeviceFacts | None = None
                      ) -> Launch:
    """The launch that writes a whole ``[n, k]`` weight (one tile on every device; Intel GPUs
    take their architecture's warps and register mode)."""
    constexprs = {"FMT": int(spec.id), "BN": BN, "BK": pick_block_k(k, BK), "QB": qb}
    warps, options = small_kernel_launch(facts) if facts is not None else (None, {})
    return Launch(_lowbit_dequant_kernel, constexprs, warps or NUM_WARPS, None, dequantize_grid(n, k, constexprs),
                  options)


def dequantize_grid(n: int, k: int, constexprs: dict) -> tuple[int, int]:
    return (triton.cdiv(n, constexprs["BN"]), k // constexprs["BK"])


def run_dequantize(launch: Launch, tensors: dict[str, torch.Tensor], spec: LowBitFormat,
                   dtype: torch.dtype) -> torch.Tensor:
    q, q2, s, mins = operands(tensors, spec)
    n = q.shape[0]
    k = q.shape[1] * spec.codes_per_byte
    w = torch.empty((n, k), device=q.device, dtype=dtype)
    launch.run(launch.grid, q, q2, s, mins, nf4_table(q.device), w, n, k,
               q.stride(0), q2.stride(0), s.stride(0), w.stride(0))
    return w


def lowbit_dequantize(tensors: dict[str, torch.Tensor], fmt, dtype: torch.dtype) -> torch.Tensor:
    """Dequantize a whole weight on the device in one pass (same decode as the matmuls)."""
    spec = get_format(fmt)
    q = tensors[spec.payload]
    k = q.shape[1] * spec.codes_per_byte
    launch = dequantize_launch(spec, q.shape[0], k, qb=quant_block(tensors, spec, k), facts=device_facts(q.device))
    return run_dequantize(launch, tensors, spec, dtype)
