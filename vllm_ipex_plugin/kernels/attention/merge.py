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
                         SP: tl.constexpr, D: tl.constexpr, DP: tl.constexpr):
    row_id = tl.program_id(0)  # token * num_heads + head
    tok = row_id // num_heads
    head = row_id % num_heads
    s = tl.arange(0, SP)
    s_ok = s < num_splits
    m = tl.load(ml_ptr + (row_id * num_splits + s) * 2, mask=s_ok, other=float("-inf"))
    lse = tl.load(ml_ptr + (row_id * num_splits + s) * 2 + 1, mask=s_ok, other=0.0)
    m_max = tl.max(m, axis=0)
    m_safe = tl.where(m_max == float("-inf"), 0.0, m_max)
    w = tl.where(m == float("-inf"), 0.0, tl.exp2(m - m_safe))  # maxima are in log2 units
    denom = tl.sum(w * lse, axis=0)
    d = tl.arange(0, DP)
    parts = tl.load(part_ptr + (row_id * num_splits + s)[:, None] * DP + d[None, :], mask=s_ok[:, None], other=0.0)
    out = tl.sum(parts * w[:, None], axis=0) / tl.where(denom == 0.0, 1.0, denom)
    tl.store(out_ptr + tok * stride_ot + head * stride_oh + d, out.to(out_ptr.dtype.element_ty), mask=d < D)
