"""The paged-attention kernel: one kernel for prefill, decode, chunked prefill and cached
prefixes over the layout of ``batch``.

One source for Intel's XPU Triton backend and CUDA (plain loads, ``tl.dot``, no vendor
intrinsics). A program owns ``BLOCK_Q`` new tokens of one request and all query heads of
one KV head (GQA heads are packed into the rows of the tile, so K/V are read once per KV
head), walks the request's KV tokens through its block table with an online softmax
(``softmax``), and either writes the output or, when the context is split across programs
(few requests, long contexts), a partial result that ``merge`` combines. Head sizes that
are not powers of two (80, 96) are padded with masks. Bidirectional spans (``MM_RANGES`` per
request, multimodal prefix LMs) widen a block's KV range to every span holding one of its
tokens and add ``query and key in one span`` to the masked tiles' mask (``MM_CLAMP``: span
keys only within the sliding window). Its launch configuration comes from
``plan.paged_config``; the host entry is ``launch.paged_attention``.

Imports Triton, ``tiles`` and ``softmax``.
"""

from __future__ import annotations

import triton
import triton.language as tl

from vllm_ipex_plugin.kernels.attention.softmax import attend_full, attend_masked, span_bounds
from vllm_ipex_plugin.kernels.attention.tiles import NEW


@triton.jit
def paged_attn_kernel(q_ptr, kc_ptr, vc_ptr, k_desc, v_desc, kn_desc, vn_desc, stride_knh, stride_vnh,
                       out_ptr, part_ptr, ml_ptr,
                       qb_req_ptr, qb_start_ptr, qsl_ptr, seq_ptr, bt_ptr, mm_ptr,
                       stride_qt, stride_qh, stride_ot, stride_oh,
                       stride_kb, stride_kn, stride_kh, stride_vb, stride_vn, stride_vh, stride_bt,
                       scale, soft_cap, window, block_size, num_splits,
                       GROUP: tl.constexpr, BLOCK_Q: tl.constexpr, ROWS: tl.constexpr, BLOCK_N: tl.constexpr,
                       D: tl.constexpr, DP: tl.constexpr, SPLIT: tl.constexpr,
                       USE_CAP: tl.constexpr, USE_WINDOW: tl.constexpr, CAUSAL: tl.constexpr,
                       TWO_PHASE: tl.constexpr, KV_LOAD: tl.constexpr, TAIL_KV_LOAD: tl.constexpr,
                       NEW_KV: tl.constexpr, HALVES: tl.constexpr = 1, SCORE_FMA: tl.constexpr = 0,
                       MM_RANGES: tl.constexpr = 0, MM_CLAMP: tl.constexpr = False, COLS: tl.constexpr = 1):
    # fastest-varying: every head (and, with COLS > 1, every column slice) of one query block launches together
    kvh = tl.program_id(0) // COLS
    col = tl.program_id(0) % COLS
    qb = tl.program_id(1)
    split = tl.program_id(2)
    req = tl.load(qb_req_ptr + qb)
    q_first = tl.load(qb_start_ptr + qb)  # first new token (index in the batch) of this block
    q_end = tl.load(qsl_ptr + req + 1)
    q_begin = tl.load(qsl_ptr + req)
    seq_len = tl.load(seq_ptr + req)
    bt_row = bt_ptr + req * stride_bt
    q_len = q_end - q_begin
    r = tl.arange(0, ROWS)  # BLOCK_Q * GROUP rows, padded to a power of two
    tok = q_first + r // GROUP
    head = kvh * GROUP + r % GROUP
    row_ok = (tok < q_end) & (r < BLOCK_Q * GROUP)
    q_pos = seq_len - q_len + (tok - q_begin)  # absolute position of each row's token
    # HALVES == 2: the head in two halves of DH columns (wide heads: no program holds a whole
    # wide K/V tile); the second half's query, mask and accumulator are q1, d_ok1, acc1.
    DH: tl.constexpr = DP // HALVES
    d = tl.arange(0, DH)
    d_ok = d < D
    q_rows = q_ptr + tok[:, None] * stride_qt + head[:, None] * stride_qh
    q = tl.load(q_rows + d[None, :], mask=row_ok[:, None] & d_ok[None, :], other=0.0)
    d1 = DH + d
    d_ok1 = d1 < D
    if HALVES == 2:
        q1 = tl.load(q_rows + d1[None, :], mask=row_ok[:, None] & d_ok1[None, :], other=0.0)
    else:
        q1 = q
    # COLS > 1 (on Intel GPUs with HALVES == 2): this program computes the whole scores but only output
    # columns v0 .. v0 + DV, so it holds one slice of the accumulator and of each V tile (the
    # other slices' programs compute the same scores).
    VALUE_HALVES: tl.constexpr = HALVES if COLS == 1 else 1
    DV: tl.constexpr = DH if COLS == 1 else DP // COLS
    dv = tl.arange(0, DV)
    v0 = col * DV
    dv_ok = (v0 + dv) < D
    vc_cols = vc_ptr + v0
    # KV range of this program: causal limit of the block's last token, split evenly.
    kv_end = seq_len
    if CAUSAL:
        kv_end = tl.minimum(seq_len, tl.max(tl.where(row_ok, q_pos, 0)) + 1)
    kv_start = 0
    if USE_WINDOW:
        kv_start = tl.maximum(0, tl.min(tl.where(row_ok, q_pos, seq_len)) - window + 1)
    mm_row = mm_ptr + req * (2 * MM_RANGES)
    if MM_RANGES > 0:  # a span holding one of the block's tokens widens its KV range to the whole span
        kv_start, kv_end = span_bounds(mm_row, q_pos, row_ok, seq_len, kv_start, kv_end, MM_RANGES, MM_CLAMP)
    if USE_WINDOW:
        # from the tile the window starts in: tiles stay block-aligned (one block lookup per
        # tile), and the window mask removes the positions before its start
        kv_start = kv_start // BLOCK_N * BLOCK_N
    span = tl.cdiv(tl.cdiv(kv_end - kv_start, num_splits), BLOCK_N) * BLOCK_N
    lo = kv_start + split * span
    hi = tl.minimum(kv_end, lo + span)
    m_i = tl.full((ROWS,), float("-inf"), tl.float32)
    l_i = tl.zeros((ROWS,), tl.float32)
    acc = tl.zeros((ROWS, DV), tl.float32)
    acc1 = tl.zeros((ROWS, DH), tl.float32)
    # Tiles that no mask can touch (inside the context and at or below every row's causal
    # limit, no window) run without any masking; the rest (the diagonal, the tail) with it.
    # Decode-only steps keep one loop: their programs walk few tiles, and a second pipelined
    # loop cost more than the masks it saves (BENCHMARKS.md, decode).
    full_end = lo
    if TWO_PHASE and not USE_WINDOW:
        limit = hi
        if CAUSAL:
            limit = tl.minimum(hi, tl.min(tl.where(row_ok, q_pos, hi)) + 1)
        full_end = lo + tl.maximum(limit - lo, 0) // BLOCK_N * BLOCK_N
        cache_end = full_end
        if NEW_KV:  # tiles past the cached prefix come from the new tokens' key/value tensors
            ctx_len = seq_len - q_len
            cache_end = tl.minimum(full_end, lo + tl.cdiv(tl.maximum(ctx_len - lo, 0), BLOCK_N) * BLOCK_N)
        m_i, l_i, acc, acc1 = attend_full(q, q1, q_rows, row_ok, kc_ptr, vc_cols, k_desc, v_desc, bt_row, kvh, lo,
                                          cache_end, d_ok, d_ok1, dv_ok, m_i, l_i, acc, acc1, stride_kb, stride_kn,
                                          stride_kh, stride_vb, stride_vn, stride_vh, scale, soft_cap, block_size, D,
                                          BLOCK_N, DH, DP != D, USE_CAP, KV_LOAD, HALVES, SCORE_FMA, VALUE_HALVES, DV)
        if NEW_KV:
            m_i, l_i, acc, acc1 = attend_full(q, q1, q_rows, row_ok, kc_ptr, vc_cols, kn_desc, vn_desc,
                                              q_begin - ctx_len, kvh, cache_end, full_end, d_ok, d_ok1, dv_ok, m_i,
                                              l_i, acc, acc1, 0, 0, stride_knh, 0, 0, stride_vnh, scale, soft_cap,
                                              1, D, BLOCK_N, DH, DP != D, USE_CAP, NEW, HALVES, SCORE_FMA,
                                              VALUE_HALVES, DV)
    m_i, l_i, acc, acc1 = attend_masked(q, q1, q_rows, kc_ptr, vc_cols, k_desc, v_desc, bt_row, kvh, full_end, hi,
                                        hi, q_pos, row_ok, d_ok, d_ok1, dv_ok, m_i, l_i, acc, acc1, stride_kb,
                                        stride_kn, stride_kh, stride_vb, stride_vn, stride_vh, scale, soft_cap,
                                        window, block_size, D, BLOCK_N, DH, DP != D, USE_CAP, USE_WINDOW, CAUSAL,
                                        TAIL_KV_LOAD, HALVES, SCORE_FMA, VALUE_HALVES, DV, mm_row, MM_RANGES, MM_CLAMP)
    if not SPLIT:
        l_safe = tl.where(l_i == 0.0, 1.0, l_i)[:, None]
        out_rows = out_ptr + tok[:, None] * stride_ot + head[:, None] * stride_oh
        tl.store(out_rows + (v0 + dv)[None, :], (acc / l_safe).to(out_ptr.dtype.element_ty),
                 mask=row_ok[:, None] & dv_ok[None, :])
        if VALUE_HALVES == 2:
            tl.store(out_rows + d1[None, :], (acc1 / l_safe).to(out_ptr.dtype.element_ty),
                     mask=row_ok[:, None] & d_ok1[None, :])
    else:
        # partial results: acc [rows, splits, DP] and (max, sum) [rows, splits, 2], row = token * heads + head
        # (with COLS > 1 every column slice stores the same max and sum)
        row_id = tok * (GROUP * (tl.num_programs(0) // COLS)) + head
        part_rows = part_ptr + (row_id[:, None] * num_splits + split) * DP
        tl.store(part_rows + (v0 + dv)[None, :], acc, mask=row_ok[:, None])
        if VALUE_HALVES == 2:
            tl.store(part_rows + d1[None, :], acc1, mask=row_ok[:, None])
        tl.store(ml_ptr + (row_id * num_splits + split) * 2, m_i, mask=row_ok)
        tl.store(ml_ptr + (row_id * num_splits + split) * 2 + 1, l_i, mask=row_ok)
