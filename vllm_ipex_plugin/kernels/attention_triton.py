"""Triton paged attention: KV-cache write and one attention kernel for prefill, decode,
chunked prefill and cached prefixes (the layout of ``attention_reference``).

One source for Intel's XPU Triton backend and CUDA (plain loads, ``tl.dot``, no
vendor intrinsics). A program owns ``BLOCK_Q`` new tokens of one request and all query
heads of one KV head (GQA heads are packed into the rows of the tile, so K/V are read
once per KV head), walks the request's KV tokens through its block table with an
online softmax, and either writes the output or, when the context is split across
programs (few requests, long contexts), a partial result that a second kernel merges.
Head sizes that are not powers of two (80, 96) are padded with masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl


@triton.jit
def _write_kv_kernel(key_ptr, value_ptr, kc_ptr, vc_ptr, slot_ptr,
                     stride_kt, stride_kh, stride_vt, stride_vh,
                     stride_cb, stride_cn, stride_ch, stride_vcb, stride_vcn, stride_vch,
                     block_size, H: tl.constexpr, HP: tl.constexpr, D: tl.constexpr, DP: tl.constexpr):
    t = tl.program_id(0)
    slot = tl.load(slot_ptr + t).to(tl.int64)
    if slot >= 0:
        blk = slot // block_size
        off = slot % block_size
        h = tl.arange(0, HP)[:, None]
        d = tl.arange(0, DP)[None, :]
        m = (d < D) & (h < H)
        k = tl.load(key_ptr + t * stride_kt + h * stride_kh + d, mask=m)
        v = tl.load(value_ptr + t * stride_vt + h * stride_vh + d, mask=m)
        tl.store(kc_ptr + blk * stride_cb + off * stride_cn + h * stride_ch + d, k.to(kc_ptr.dtype.element_ty), mask=m)
        tl.store(vc_ptr + blk * stride_vcb + off * stride_vcn + h * stride_vch + d, v.to(vc_ptr.dtype.element_ty),
                 mask=m)


LOG2E = tl.constexpr(1.4426950408889634)  # jit code reads only constexpr globals


@triton.jit
def _load_tile(ptrs, pos_ok, d_ok, MASKED: tl.constexpr, PAD_D: tl.constexpr):
    """A K or V tile; masks only where positions may be out of range or the head is padded."""
    if MASKED:
        if PAD_D:
            t = tl.load(ptrs, mask=pos_ok[:, None] & d_ok[None, :], other=0.0)
        else:
            t = tl.load(ptrs, mask=pos_ok[:, None], other=0.0)
    else:
        if PAD_D:
            t = tl.load(ptrs, mask=d_ok[None, :], other=0.0)
        else:
            t = tl.load(ptrs)
    return t


@triton.jit
def _attend(q, kc_ptr, vc_ptr, bt_ptr, req, kvh, lo, hi, kv_end, q_pos, row_ok, d_ok, m_i, l_i, acc,
            stride_kb, stride_kn, stride_kh, stride_vb, stride_vn, stride_vh, stride_bt,
            scale, soft_cap, window, block_size, BLOCK_N: tl.constexpr, DP: tl.constexpr, PAD_D: tl.constexpr,
            USE_CAP: tl.constexpr, USE_WINDOW: tl.constexpr, CAUSAL: tl.constexpr, MASKED: tl.constexpr):
    """Online softmax over KV positions ``lo .. hi`` (tiles of ``BLOCK_N``), in log2 units.

    ``MASKED`` False: the caller guarantees every position is valid for every row.
    """
    n = tl.arange(0, BLOCK_N)
    d = tl.arange(0, DP)
    for start in range(lo, hi, BLOCK_N):
        pos = start + n
        pos_ok = pos < kv_end
        if MASKED:
            blk = tl.load(bt_ptr + req * stride_bt + pos // block_size, mask=pos_ok, other=0).to(tl.int64)
        else:
            blk = tl.load(bt_ptr + req * stride_bt + pos // block_size).to(tl.int64)
        off = pos % block_size
        k = _load_tile(kc_ptr + blk[:, None] * stride_kb + off[:, None] * stride_kn + kvh * stride_kh + d[None, :],
                       pos_ok, d_ok, MASKED, PAD_D)
        s = tl.dot(q, tl.trans(k)).to(tl.float32)
        if USE_CAP:
            s = s * scale
            s = soft_cap * (2.0 / (1.0 + tl.exp(-2.0 * s / soft_cap)) - 1.0) * LOG2E  # cap * tanh(s / cap)
        else:
            s = s * (scale * LOG2E)
        if MASKED:
            ok = row_ok[:, None] & pos_ok[None, :]
            if CAUSAL:
                ok = ok & (pos[None, :] <= q_pos[:, None])
            if USE_WINDOW:
                ok = ok & (q_pos[:, None] - pos[None, :] < window)
            s = tl.where(ok, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        p = tl.exp2(s - m_safe[:, None])
        alpha = tl.exp2(m_i - m_safe)
        l_i = l_i * alpha + tl.sum(p, axis=1)
        v = _load_tile(vc_ptr + blk[:, None] * stride_vb + off[:, None] * stride_vn + kvh * stride_vh + d[None, :],
                       pos_ok, d_ok, MASKED, PAD_D)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v).to(tl.float32)
        m_i = m_new
    return m_i, l_i, acc


@triton.jit
def _paged_attn_kernel(q_ptr, kc_ptr, vc_ptr, out_ptr, part_ptr, ml_ptr,
                       qb_req_ptr, qb_start_ptr, qsl_ptr, seq_ptr, bt_ptr,
                       stride_qt, stride_qh, stride_ot, stride_oh,
                       stride_kb, stride_kn, stride_kh, stride_vb, stride_vn, stride_vh, stride_bt,
                       scale, soft_cap, window, block_size,
                       GROUP: tl.constexpr, BLOCK_Q: tl.constexpr, ROWS: tl.constexpr, BLOCK_N: tl.constexpr,
                       D: tl.constexpr, DP: tl.constexpr, SPLITS: tl.constexpr,
                       USE_CAP: tl.constexpr, USE_WINDOW: tl.constexpr, CAUSAL: tl.constexpr,
                       TWO_PHASE: tl.constexpr):
    kvh = tl.program_id(0)  # fastest-varying: every head of one query block launches together
    qb = tl.program_id(1)
    split = tl.program_id(2)
    req = tl.load(qb_req_ptr + qb)
    q_first = tl.load(qb_start_ptr + qb)  # first new token (index in the batch) of this block
    q_end = tl.load(qsl_ptr + req + 1)
    q_begin = tl.load(qsl_ptr + req)
    seq_len = tl.load(seq_ptr + req)
    q_len = q_end - q_begin
    r = tl.arange(0, ROWS)  # BLOCK_Q * GROUP rows, padded to a power of two
    tok = q_first + r // GROUP
    head = kvh * GROUP + r % GROUP
    row_ok = (tok < q_end) & (r < BLOCK_Q * GROUP)
    q_pos = seq_len - q_len + (tok - q_begin)  # absolute position of each row's token
    d = tl.arange(0, DP)
    d_ok = d < D
    q = tl.load(q_ptr + tok[:, None] * stride_qt + head[:, None] * stride_qh + d[None, :],
                mask=row_ok[:, None] & d_ok[None, :], other=0.0)
    # KV range of this program: causal limit of the block's last token, split evenly.
    kv_end = seq_len
    if CAUSAL:
        kv_end = tl.minimum(seq_len, tl.max(tl.where(row_ok, q_pos, 0)) + 1)
    kv_start = 0
    if USE_WINDOW:
        kv_start = tl.maximum(0, tl.min(tl.where(row_ok, q_pos, seq_len)) - window + 1)
    span = tl.cdiv(tl.cdiv(kv_end - kv_start, SPLITS), BLOCK_N) * BLOCK_N
    lo = kv_start + split * span
    hi = tl.minimum(kv_end, lo + span)
    m_i = tl.full((ROWS,), float("-inf"), tl.float32)
    l_i = tl.zeros((ROWS,), tl.float32)
    acc = tl.zeros((ROWS, DP), tl.float32)
    # Tiles that no mask can touch (inside the context and at or below every row's causal
    # limit, no window) run without any masking; the rest (the diagonal, the tail) with it.
    # Decode-only steps keep one loop: their programs walk few tiles, and a second pipelined
    # loop cost more than the masks it saves (H100: batch 16 x 4k fell from 87% to 72%).
    full_end = lo
    if TWO_PHASE and not USE_WINDOW:
        limit = hi
        if CAUSAL:
            limit = tl.minimum(hi, tl.min(tl.where(row_ok, q_pos, hi)) + 1)
        full_end = lo + tl.maximum(limit - lo, 0) // BLOCK_N * BLOCK_N
        m_i, l_i, acc = _attend(q, kc_ptr, vc_ptr, bt_ptr, req, kvh, lo, full_end, hi, q_pos, row_ok, d_ok, m_i,
                                l_i, acc, stride_kb, stride_kn, stride_kh, stride_vb, stride_vn, stride_vh,
                                stride_bt, scale, soft_cap, window, block_size, BLOCK_N, DP, DP != D, USE_CAP, False,
                                False, False)
    m_i, l_i, acc = _attend(q, kc_ptr, vc_ptr, bt_ptr, req, kvh, full_end, hi, hi, q_pos, row_ok, d_ok, m_i, l_i,
                            acc, stride_kb, stride_kn, stride_kh, stride_vb, stride_vn, stride_vh, stride_bt,
                            scale, soft_cap, window, block_size, BLOCK_N, DP, DP != D, USE_CAP, USE_WINDOW, CAUSAL,
                            True)
    if SPLITS == 1:
        out = acc / tl.where(l_i == 0.0, 1.0, l_i)[:, None]
        tl.store(out_ptr + tok[:, None] * stride_ot + head[:, None] * stride_oh + d[None, :],
                 out.to(out_ptr.dtype.element_ty), mask=row_ok[:, None] & d_ok[None, :])
    else:
        # partial results: acc [rows, SPLITS, DP] and (max, sum) [rows, SPLITS, 2], row = token * heads + head
        row_id = tok * (GROUP * tl.num_programs(0)) + head
        tl.store(part_ptr + (row_id[:, None] * SPLITS + split) * DP + d[None, :], acc, mask=row_ok[:, None])
        tl.store(ml_ptr + (row_id * SPLITS + split) * 2, m_i, mask=row_ok)
        tl.store(ml_ptr + (row_id * SPLITS + split) * 2 + 1, l_i, mask=row_ok)


@triton.jit
def _merge_splits_kernel(part_ptr, ml_ptr, out_ptr, num_heads, stride_ot, stride_oh,
                         SPLITS: tl.constexpr, SP: tl.constexpr, D: tl.constexpr, DP: tl.constexpr):
    row_id = tl.program_id(0)  # token * num_heads + head
    tok = row_id // num_heads
    head = row_id % num_heads
    s = tl.arange(0, SP)
    s_ok = s < SPLITS
    m = tl.load(ml_ptr + (row_id * SPLITS + s) * 2, mask=s_ok, other=float("-inf"))
    lse = tl.load(ml_ptr + (row_id * SPLITS + s) * 2 + 1, mask=s_ok, other=0.0)
    m_max = tl.max(m, axis=0)
    m_safe = tl.where(m_max == float("-inf"), 0.0, m_max)
    w = tl.where(m == float("-inf"), 0.0, tl.exp2(m - m_safe))  # maxima are in log2 units
    denom = tl.sum(w * lse, axis=0)
    d = tl.arange(0, DP)
    parts = tl.load(part_ptr + (row_id * SPLITS + s)[:, None] * DP + d[None, :], mask=s_ok[:, None], other=0.0)
    out = tl.sum(parts * w[:, None], axis=0) / tl.where(denom == 0.0, 1.0, denom)
    tl.store(out_ptr + tok * stride_ot + head * stride_oh + d, out.to(out_ptr.dtype.element_ty), mask=d < D)


def write_kv_cache(key, value, key_cache, value_cache, slot_mapping) -> None:
    """Scatter ``[T, H, D]`` keys/values into ``[blocks, block_size, H, D]`` cache views."""
    t, h, d = key.shape[0], key.shape[1], key.shape[2]
    t = min(t, slot_mapping.shape[0])
    if t == 0:
        return
    _write_kv_kernel[(t,)](
        key, value, key_cache, value_cache, slot_mapping,
        key.stride(0), key.stride(1), value.stride(0), value.stride(1),
        key_cache.stride(0), key_cache.stride(1), key_cache.stride(2),
        value_cache.stride(0), value_cache.stride(1), value_cache.stride(2),
        key_cache.shape[1], H=h, HP=triton.next_power_of_2(h), D=d, DP=triton.next_power_of_2(d),
    )


@dataclass
class AttentionPlan:
    """Per-step work split (shared by every layer of a step): query blocks and context splits."""

    qb_req: torch.Tensor  # [n_qb] request of each query block
    qb_start: torch.Tensor  # [n_qb] first token of each query block
    block_q: int
    splits: int
    block_n: int = 64
    num_warps: int = 4
    num_stages: int = 2
    two_phase: bool = True  # unmasked loop over the tiles below the diagonal, then a masked one


def make_plan(query_start_loc: torch.Tensor, num_reqs: int, max_query_len: int, num_heads: int,
              num_kv_heads: int, splits: int | None = None, block_q: int | None = None,
              seq_lens: torch.Tensor | None = None, **tuning) -> AttentionPlan:
    """``tuning``: ``block_n``, ``num_warps``, ``num_stages`` (defaults in AttentionPlan).

    With ``seq_lens``, query blocks are ordered by how many KV positions they attend to,
    longest first: causal prefill blocks differ in work by up to the sequence length, and
    launching the long ones last leaves the GPU idle behind a few stragglers.
    """
    group = num_heads // num_kv_heads
    if max_query_len >= 128:
        # Prefill-heavy step: 128-row tiles, narrow KV tiles, 8 warps (H100 sweep, BENCHMARKS.md).
        rows = 128
        tuning = {"block_n": 32, "num_warps": 8, **tuning}
    else:
        rows = 64
    if block_q is None:
        block_q = max(1, min(triton.next_power_of_2(max(max_query_len, 1)), max(1, rows // group)))
    device = query_start_loc.device
    qsl = query_start_loc[: num_reqs + 1].to(torch.int64)
    blocks_per_req = (qsl[1:] - qsl[:-1] + block_q - 1) // block_q
    qb_req = torch.repeat_interleave(torch.arange(num_reqs, device=device), blocks_per_req)
    first_block = torch.cumsum(blocks_per_req, 0) - blocks_per_req
    idx_in_req = torch.arange(qb_req.shape[0], device=device) - first_block[qb_req]
    qb_start = qsl[:-1][qb_req] + idx_in_req * block_q
    if seq_lens is not None and max_query_len > 1:
        q_len = (qsl[1:] - qsl[:-1])[qb_req]
        kv_end = seq_lens[:num_reqs].to(torch.int64)[qb_req] - q_len + torch.minimum((idx_in_req + 1) * block_q, q_len)
        order = torch.argsort(kv_end, descending=True, stable=True)
        qb_req, qb_start = qb_req[order], qb_start[order]
    if splits is None:
        splits = 1
        if max_query_len == 1:  # decode: split long contexts until the grid covers the GPU
            sms = torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 64
            while qb_req.shape[0] * num_kv_heads * splits < 2 * sms and splits < 16:
                splits *= 2
    tuning = {"two_phase": max_query_len > 1, **tuning}
    return AttentionPlan(qb_req.to(torch.int32), qb_start.to(torch.int32), block_q, splits, **tuning)


def paged_attention(query, key_cache, value_cache, query_start_loc, seq_lens, block_table, num_reqs: int,
                    max_query_len: int, scale: float, out, sliding_window=None, logits_soft_cap=None,
                    causal: bool = True, splits: int | None = None, block_q: int | None = None,
                    plan: AttentionPlan | None = None):
    """Attention of every new token over its request's paged KV (see ``attention_reference``).

    Pass a ``plan`` (``make_plan``, once per step) to keep the launch free of host syncs
    (CUDA/XPU graph capture); without one it is computed here.
    """
    t, num_heads, d = query.shape
    num_kv = key_cache.shape[2]
    group = num_heads // num_kv
    dp = triton.next_power_of_2(d)
    if plan is None:
        plan = make_plan(query_start_loc, num_reqs, max_query_len, num_heads, num_kv, splits, block_q, seq_lens)
    n_qb = plan.qb_req.shape[0]
    if n_qb == 0:
        return out
    block_q, splits = plan.block_q, plan.splits
    qsl = query_start_loc
    block_n = plan.block_n if dp <= 128 else min(plan.block_n, 32)
    if splits > 1:
        part = torch.empty((t * num_heads * splits * dp,), device=query.device, dtype=torch.float32)
        ml = torch.empty((t * num_heads * splits * 2,), device=query.device, dtype=torch.float32)
    else:
        part = ml = out
    _paged_attn_kernel[(num_kv, n_qb, splits)](
        query, key_cache, value_cache, out, part, ml, plan.qb_req, plan.qb_start, qsl, seq_lens, block_table,
        query.stride(0), query.stride(1), out.stride(0), out.stride(1),
        key_cache.stride(0), key_cache.stride(1), key_cache.stride(2),
        value_cache.stride(0), value_cache.stride(1), value_cache.stride(2), block_table.stride(0),
        float(scale), float(logits_soft_cap or 0.0), int(sliding_window or 0), key_cache.shape[1],
        GROUP=group, BLOCK_Q=block_q, ROWS=max(16, triton.next_power_of_2(block_q * group)),
        BLOCK_N=block_n, D=d, DP=dp, SPLITS=splits,
        USE_CAP=bool(logits_soft_cap), USE_WINDOW=bool(sliding_window), CAUSAL=causal, TWO_PHASE=plan.two_phase,
        num_warps=plan.num_warps, num_stages=plan.num_stages,
    )
    if splits > 1:
        _merge_splits_kernel[(t * num_heads,)](part, ml, out, num_heads, out.stride(0), out.stride(1),
                                               SPLITS=splits, SP=triton.next_power_of_2(splits), D=d, DP=dp)
    return out
