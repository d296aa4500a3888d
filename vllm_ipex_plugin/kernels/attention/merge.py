"""The split merge: combines the partial results of a context split across programs
(few requests, long contexts) into the output. The split count is a run-time argument
(``SP``, a power of two at least as large, sizes the tile), so one compiled merge serves
every split count. Launch configuration: ``plan.merge_config``.

Imports Triton only.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def merge_splits_kernel(part_ptr, ml_ptr, out_ptr, num_heads, stride_ot, stride_oh, num_splits,
                         SP: tl.constexpr, SC: tl.constexpr, D: tl.constexpr, DP: tl.constexpr):
    """``SC`` splits' partial rows are combined per loop step, so registers hold ``[SC, DP]``
    whatever the split count (wide heads at many splits would otherwise spill on Intel GPUs)."""
    row_id = tl.program_id(0)  # token * num_heads + head
    tok = row_id // num_heads
    head = row_id % num_heads
    base = row_id * num_splits
    s = tl.arange(0, SP)
    s_ok = s < num_splits
    m = tl.load(ml_ptr + (base + s) * 2, mask=s_ok, other=float("-inf"))
    lse = tl.load(ml_ptr + (base + s) * 2 + 1, mask=s_ok, other=0.0)
    m_max = tl.max(m, axis=0)
    m_safe = tl.where(m_max == float("-inf"), 0.0, m_max)
    w = tl.where(m == float("-inf"), 0.0, tl.exp2(m - m_safe))  # maxima are in log2 units
    denom = tl.sum(w * lse, axis=0)
    d = tl.arange(0, DP)
    acc = tl.zeros([DP], dtype=tl.float32)
    for s0 in range(0, num_splits, SC):
        c = s0 + tl.arange(0, SC)
        c_ok = c < num_splits
        mc = tl.load(ml_ptr + (base + c) * 2, mask=c_ok, other=float("-inf"))
        wc = tl.where(mc == float("-inf"), 0.0, tl.exp2(mc - m_safe))
        parts = tl.load(part_ptr + (base + c)[:, None] * DP + d[None, :], mask=c_ok[:, None], other=0.0)
        acc += tl.sum(parts * wc[:, None], axis=0)
    out = acc / tl.where(denom == 0.0, 1.0, denom)
    tl.store(out_ptr + tok * stride_ot + head * stride_oh + d, out.to(out_ptr.dtype.element_ty), mask=d < D)
