"""The two online-softmax loops of the paged-attention kernel (log2 units): one over tiles no
mask can touch, one over tiles that need masks (context tail, causal diagonal, window).

Triton device functions only; imports Triton and ``tiles``.
"""

from __future__ import annotations

import triton
import triton.language as tl

from vllm_ipex_plugin.kernels.attention.tiles import DESC, kv_tile, tile_place

LOG2E = tl.constexpr(1.4426950408889634)  # jit code reads only constexpr globals


@triton.jit
def log2_scores(s, scale, soft_cap, USE_CAP: tl.constexpr):
    """Raw ``q.k`` -> scaled (and soft-capped: ``cap * tanh(s / cap)``) logits in log2 units.

    ``tanh(x) = 2 / (1 + exp(-2x)) - 1`` with the constants folded into one scalar and one
    approximate (not IEEE) division per score: an IEEE division expands into a long
    instruction sequence whose temporaries spill on Intel GPUs, and its last-bit accuracy is
    lost in the softmax anyway."""
    if USE_CAP:
        k = (-2.0 * LOG2E) * scale / soft_cap  # one scalar per tile
        t = tl.fdiv(tl.full(s.shape, 2.0, tl.float32), 1.0 + tl.exp2(s * k), ieee_rounding=False)
        return (soft_cap * LOG2E) * (t - 1.0)
    return s * (scale * LOG2E)


@triton.jit
def tile_scores(q, q1, q_rows, row_ok, kc_ptr, k_desc, blk, off, kvh, stride_kb, stride_kn, stride_kh, pos_ok,
                d_ok, d_ok1, block_size, D: tl.constexpr, BLOCK_N: tl.constexpr, DH: tl.constexpr,
                PAD_D: tl.constexpr, MASKED: tl.constexpr, KV_LOAD: tl.constexpr, HALVES: tl.constexpr,
                SCORE_FMA: tl.constexpr):
    """Raw ``q.k`` of one K tile, ``[rows, BLOCK_N]`` in float32; with ``HALVES == 2`` the K
    tile is read and multiplied half by half (``q1``: the query's second half).

    ``SCORE_FMA > 0``: no matrix instruction; the query (re-read from ``q_rows``, a cache hit)
    and the K tile in ``SCORE_FMA``-column chunks, multiplied and summed on the vector units.
    The values dot that follows is then the kernel's only dot: on Intel GPUs a dot feeding a
    dot puts every warp along the rows, so a decode tile's few rows are computed by every warp
    with the whole accumulator in each warp's registers."""
    if SCORE_FMA > 0:
        s = tl.zeros((q_rows.shape[0], BLOCK_N), tl.float32)
        for c in tl.static_range(DH * HALVES // SCORE_FMA):
            dc = c * SCORE_FMA + tl.arange(0, SCORE_FMA)
            dc_ok = dc < D
            qc = tl.load(q_rows + dc[None, :], mask=row_ok[:, None] & dc_ok[None, :], other=0.0).to(tl.float32)
            kc = kv_tile(kc_ptr, k_desc, blk, off, kvh, stride_kb, stride_kn, stride_kh, pos_ok, dc_ok, block_size,
                         BLOCK_N, SCORE_FMA, PAD_D, MASKED, KV_LOAD, c * SCORE_FMA).to(tl.float32)
            s += tl.sum(qc[:, None, :] * kc[None, :, :], axis=2)
    else:
        k = kv_tile(kc_ptr, k_desc, blk, off, kvh, stride_kb, stride_kn, stride_kh, pos_ok, d_ok, block_size,
                    BLOCK_N, DH, PAD_D, MASKED, KV_LOAD)
        s = tl.dot(q, tl.trans(k))
        if HALVES == 2:
            k1 = kv_tile(kc_ptr, k_desc, blk, off, kvh, stride_kb, stride_kn, stride_kh, pos_ok, d_ok1, block_size,
                         BLOCK_N, DH, PAD_D, MASKED, KV_LOAD, DH)
            s = tl.dot(q1, tl.trans(k1), s)
    return s


@triton.jit
def add_values(p, alpha, acc, acc1, vc_ptr, v_desc, blk, off, kvh, stride_vb, stride_vn, stride_vh, pos_ok, d_ok,
               d_ok1, block_size, BLOCK_N: tl.constexpr, DH: tl.constexpr, PAD_D: tl.constexpr,
               MASKED: tl.constexpr, KV_LOAD: tl.constexpr, HALVES: tl.constexpr):
    """``acc * alpha + p.v`` for one V tile, half by half when ``HALVES == 2`` (``acc1``: the
    second half; passed through untouched otherwise)."""
    v = kv_tile(vc_ptr, v_desc, blk, off, kvh, stride_vb, stride_vn, stride_vh, pos_ok, d_ok, block_size,
                BLOCK_N, DH, PAD_D, MASKED, KV_LOAD)
    if MASKED and KV_LOAD == DESC:  # unmasked tile: zero the rows past the context (0 * NaN would poison acc)
        v = tl.where(pos_ok[:, None], v, 0.0)
    acc = tl.dot(p.to(v.dtype), v, acc * alpha[:, None])
    if HALVES == 2:
        v1 = kv_tile(vc_ptr, v_desc, blk, off, kvh, stride_vb, stride_vn, stride_vh, pos_ok, d_ok1, block_size,
                     BLOCK_N, DH, PAD_D, MASKED, KV_LOAD, DH)
        if MASKED and KV_LOAD == DESC:
            v1 = tl.where(pos_ok[:, None], v1, 0.0)
        acc1 = tl.dot(p.to(v1.dtype), v1, acc1 * alpha[:, None])
    return acc, acc1


@triton.jit
def attend_full(q, q1, q_rows, row_ok, kc_ptr, vc_ptr, k_desc, v_desc, bt_row, kvh, lo, hi, d_ok, d_ok1, dv_ok, m_i,
                l_i, acc, acc1, stride_kb, stride_kn, stride_kh, stride_vb, stride_vn, stride_vh,
                scale, soft_cap, block_size, D: tl.constexpr, BLOCK_N: tl.constexpr, DH: tl.constexpr,
                PAD_D: tl.constexpr, USE_CAP: tl.constexpr, KV_LOAD: tl.constexpr, HALVES: tl.constexpr,
                SCORE_FMA: tl.constexpr, VALUE_HALVES: tl.constexpr, DV: tl.constexpr):
    """Online softmax (log2 units) over tiles no mask can touch: every position of ``lo .. hi``
    is valid for every row, so no -inf guard is needed and the accumulator is updated in
    place by the second dot. ``HALVES``: see ``tile_scores``; ``VALUE_HALVES``, ``DV``, ``vc_ptr``
    and ``dv_ok`` (the values' columns: one slice of a column-split head, or the whole head):
    see ``add_values``."""
    for start in range(lo, hi, BLOCK_N):
        start = tl.multiple_of(start, BLOCK_N)
        blk, off = tile_place(bt_row, start, d_ok, block_size, BLOCK_N, False, KV_LOAD)
        s = tile_scores(q, q1, q_rows, row_ok, kc_ptr, k_desc, blk, off, kvh, stride_kb, stride_kn, stride_kh, d_ok,
                        d_ok, d_ok1, block_size, D, BLOCK_N, DH, PAD_D, False, KV_LOAD, HALVES, SCORE_FMA)
        if USE_CAP:
            s = log2_scores(s, scale, soft_cap, True)
            m_new = tl.maximum(m_i, tl.max(s, axis=1))
        else:
            # max of the raw scores, then scaled: scale and max subtraction fuse into one
            # FMA per score (BENCHMARKS.md: taking the max of scaled scores was slower)
            m_new = tl.maximum(m_i, tl.max(s, axis=1) * (scale * LOG2E))
            s = s * (scale * LOG2E)
        p = tl.exp2(s - m_new[:, None])
        alpha = tl.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, axis=1)
        m_i = m_new
        acc, acc1 = add_values(p, alpha, acc, acc1, vc_ptr, v_desc, blk, off, kvh, stride_vb, stride_vn, stride_vh,
                               d_ok, dv_ok, d_ok1, block_size, BLOCK_N, DV, PAD_D, False, KV_LOAD, VALUE_HALVES)
    return m_i, l_i, acc, acc1


@triton.jit
def span_bounds(mm_row, q_pos, row_ok, seq_len, kv_start, kv_end, MM_RANGES: tl.constexpr,
                MM_CLAMP: tl.constexpr = False):
    """``(kv_start, kv_end)`` widened to every bidirectional span (``mm_row``: the request's
    ``MM_RANGES`` inclusive ``(start, end)`` pairs; ``start >= end`` is padding) that holds one of
    the rows' positions; ``MM_CLAMP`` (spans inside the window): the start stays the window's."""
    q_lo = tl.min(tl.where(row_ok, q_pos, seq_len))
    q_hi = tl.max(tl.where(row_ok, q_pos, -1))
    for i in tl.static_range(MM_RANGES):
        start = tl.load(mm_row + 2 * i)
        end = tl.load(mm_row + 2 * i + 1)
        hit = (start < end) & (start <= q_hi) & (end >= q_lo)
        if not MM_CLAMP:
            kv_start = tl.where(hit, tl.minimum(kv_start, start), kv_start)
        kv_end = tl.where(hit, tl.maximum(kv_end, tl.minimum(end + 1, seq_len)), kv_end)
    return kv_start, kv_end


@triton.jit
def in_spans(mm_row, q_pos, pos, MM_RANGES: tl.constexpr):
    """``[rows, BLOCK_N]``: the row's position and the key's lie in one bidirectional span."""
    both = (q_pos[:, None] < 0) & (pos[None, :] < 0)  # all False, of the tile's shape
    for i in tl.static_range(MM_RANGES):
        start = tl.load(mm_row + 2 * i)
        end = tl.load(mm_row + 2 * i + 1)
        q_in = (q_pos >= start) & (q_pos <= end) & (start < end)
        k_in = (pos >= start) & (pos <= end)
        both = both | (q_in[:, None] & k_in[None, :])
    return both


@triton.jit
def attend_masked(q, q1, q_rows, kc_ptr, vc_ptr, k_desc, v_desc, bt_row, kvh, lo, hi, kv_end, q_pos, row_ok, d_ok,
                  d_ok1, dv_ok, m_i, l_i, acc, acc1, stride_kb, stride_kn, stride_kh, stride_vb, stride_vn, stride_vh,
                  scale, soft_cap, window, block_size, D: tl.constexpr, BLOCK_N: tl.constexpr, DH: tl.constexpr,
                  PAD_D: tl.constexpr, USE_CAP: tl.constexpr, USE_WINDOW: tl.constexpr, CAUSAL: tl.constexpr,
                  KV_LOAD: tl.constexpr, HALVES: tl.constexpr, SCORE_FMA: tl.constexpr, VALUE_HALVES: tl.constexpr,
                  DV: tl.constexpr, mm_row=None, MM_RANGES: tl.constexpr = 0, MM_CLAMP: tl.constexpr = False):
    """Online softmax over tiles that need masks (context tail, causal diagonal, window, spans):
    a row may have no valid position yet, so its running max can be -inf. The mask is vLLM's
    ``(causal AND window) OR (query and key in one span [AND window, with MM_CLAMP])``."""
    n = tl.arange(0, BLOCK_N)
    for start in range(lo, hi, BLOCK_N):
        pos = start + n
        pos_ok = pos < kv_end
        blk, off = tile_place(bt_row, start, pos_ok, block_size, BLOCK_N, True, KV_LOAD)
        s = tile_scores(q, q1, q_rows, row_ok, kc_ptr, k_desc, blk, off, kvh, stride_kb, stride_kn, stride_kh, pos_ok,
                        d_ok, d_ok1, block_size, D, BLOCK_N, DH, PAD_D, True, KV_LOAD, HALVES, SCORE_FMA)
        s = log2_scores(s, scale, soft_cap, USE_CAP)
        valid = row_ok[:, None] & pos_ok[None, :]
        ok = valid
        if CAUSAL:
            ok = ok & (pos[None, :] <= q_pos[:, None])
        if USE_WINDOW:
            ok = ok & (q_pos[:, None] - pos[None, :] < window)
        if MM_RANGES > 0:
            spans = valid & in_spans(mm_row, q_pos, pos, MM_RANGES)
            if MM_CLAMP:  # Gemma4's sliding layers: (causal OR span) AND window
                spans = spans & (q_pos[:, None] - pos[None, :] < window)
            ok = ok | spans
        s = tl.where(ok, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        p = tl.exp2(s - m_safe[:, None])
        alpha = tl.exp2(m_i - m_safe)
        l_i = l_i * alpha + tl.sum(p, axis=1)
        acc, acc1 = add_values(p, alpha, acc, acc1, vc_ptr, v_desc, blk, off, kvh, stride_vb, stride_vn, stride_vh,
                               pos_ok, dv_ok, d_ok1, block_size, BLOCK_N, DV, PAD_D, True, KV_LOAD, VALUE_HALVES)
        m_i = m_new
    return m_i, l_i, acc, acc1
