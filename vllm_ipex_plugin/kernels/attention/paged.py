"""Triton paged attention: KV-cache write and one attention kernel for prefill, decode,
chunked prefill and cached prefixes (the layout of ``attention_reference``).

One source for Intel's XPU Triton backend and CUDA (plain loads, ``tl.dot``, no
vendor intrinsics). A program owns ``BLOCK_Q`` new tokens of one request and all query
heads of one KV head (GQA heads are packed into the rows of the tile, so K/V are read
once per KV head), walks the request's KV tokens through its block table with an
online softmax, and either writes the output or, when the context is split across
programs (few requests, long contexts), a partial result that a second kernel merges.
Head sizes that are not powers of two (80, 96) are padded with masks.

K/V tiles are read one of three ways (``AttentionPlan.kv_load``): per-position block
lookups (any block size), one lookup per tile with plain loads (portable default), or
tensor descriptors (TMA on Hopper; Intel's backend lowers them to 2D block loads). With
descriptors and the step's key/value tensors passed in, tiles of new tokens skip the
block table altogether. Tile shapes per read come from H100 sweeps (BENCHMARKS.md).
"""

from __future__ import annotations

import os
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
# How K/V tiles are read (see _tile_place); AttentionPlan.kv_load names the first three.
GATHER = tl.constexpr(0)
BLOCK = tl.constexpr(1)
DESC = tl.constexpr(2)
NEW = tl.constexpr(3)  # the step's new tokens, read from the key/value tensors (descriptors), not the cache


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
def _tile_place(bt_row, start, pos_ok, block_size, BLOCK_N: tl.constexpr, MASKED: tl.constexpr,
                KV_LOAD: tl.constexpr):
    """Where KV positions ``start .. start + BLOCK_N`` live (``bt_row``: the request's block
    table; for NEW, the row of position 0 in the new-token tensors).

    GATHER: a block and an offset per position (any tile, any block size). BLOCK and DESC
    need the tile inside one cache block (``block_size % BLOCK_N == 0``, start a multiple
    of ``BLOCK_N``): one block lookup, and the tile's first offset in it. NEW: the row,
    no lookup (with ``block_size`` 1).
    """
    if KV_LOAD == NEW:
        return (bt_row + start).to(tl.int64), 0
    elif KV_LOAD == GATHER:
        pos = start + tl.arange(0, BLOCK_N)
        if MASKED:
            blk = tl.load(bt_row + pos // block_size, mask=pos_ok, other=0)
        else:
            blk = tl.load(bt_row + pos // block_size)
        return blk.to(tl.int64), pos % block_size
    else:
        return tl.load(bt_row + start // block_size).to(tl.int64), start % block_size


@triton.jit
def _kv_tile(cache_ptr, desc, blk, off, kvh, stride_b, stride_n, stride_h, pos_ok, d_ok, block_size,
             BLOCK_N: tl.constexpr, DP: tl.constexpr, PAD_D: tl.constexpr, MASKED: tl.constexpr,
             KV_LOAD: tl.constexpr):
    """A [BLOCK_N, DP] K or V tile at ``_tile_place``'s place: plain loads (GATHER, BLOCK) or a
    tensor descriptor (DESC: TMA on Hopper, 2D block loads on Intel's backend). Descriptor
    tiles are never masked, so past the context they may hold anything."""
    d = tl.arange(0, DP)
    if KV_LOAD == GATHER:
        t = _load_tile(cache_ptr + blk[:, None] * stride_b + off[:, None] * stride_n + kvh * stride_h + d[None, :],
                       pos_ok, d_ok, MASKED, PAD_D)
    elif KV_LOAD == BLOCK:
        rows = off + tl.arange(0, BLOCK_N)
        t = _load_tile(cache_ptr + blk * stride_b + rows[:, None] * stride_n + kvh * stride_h + d[None, :],
                       pos_ok, d_ok, MASKED, PAD_D)
    else:
        t = desc.load([(blk * block_size + off).to(tl.int32), (kvh * stride_h).to(tl.int32)])
    return t


@triton.jit
def _log2_scores(s, scale, soft_cap, USE_CAP: tl.constexpr):
    """Raw ``q.k`` -> scaled (and soft-capped: ``cap * tanh(s / cap)``) logits in log2 units."""
    if USE_CAP:
        s = s * scale
        return soft_cap * (2.0 / (1.0 + tl.exp(-2.0 * s / soft_cap)) - 1.0) * LOG2E
    return s * (scale * LOG2E)


@triton.jit
def _attend_full(q, kc_ptr, vc_ptr, k_desc, v_desc, bt_row, kvh, lo, hi, d_ok, m_i, l_i, acc,
                 stride_kb, stride_kn, stride_kh, stride_vb, stride_vn, stride_vh,
                 scale, soft_cap, block_size, BLOCK_N: tl.constexpr, DP: tl.constexpr,
                 PAD_D: tl.constexpr, USE_CAP: tl.constexpr, KV_LOAD: tl.constexpr):
    """Online softmax (log2 units) over tiles no mask can touch: every position of ``lo .. hi``
    is valid for every row, so no -inf guard is needed and the accumulator is updated in
    place by the second dot (``tl.dot(p, v, acc)``)."""
    for start in range(lo, hi, BLOCK_N):
        start = tl.multiple_of(start, BLOCK_N)
        blk, off = _tile_place(bt_row, start, d_ok, block_size, BLOCK_N, False, KV_LOAD)
        k = _kv_tile(kc_ptr, k_desc, blk, off, kvh, stride_kb, stride_kn, stride_kh, d_ok, d_ok, block_size,
                     BLOCK_N, DP, PAD_D, False, KV_LOAD)
        s = tl.dot(q, tl.trans(k))
        if USE_CAP:
            s = _log2_scores(s, scale, soft_cap, True)
            m_new = tl.maximum(m_i, tl.max(s, axis=1))
        else:
            # max of the raw scores, then scaled: scale and max subtraction fuse into one
            # FMA per score (taking the max of scaled scores cost 6% on H100, MHA 8k prefill)
            m_new = tl.maximum(m_i, tl.max(s, axis=1) * (scale * LOG2E))
            s = s * (scale * LOG2E)
        p = tl.exp2(s - m_new[:, None])
        alpha = tl.exp2(m_i - m_new)
        acc = acc * alpha[:, None]
        l_i = l_i * alpha + tl.sum(p, axis=1)
        m_i = m_new
        v = _kv_tile(vc_ptr, v_desc, blk, off, kvh, stride_vb, stride_vn, stride_vh, d_ok, d_ok, block_size,
                     BLOCK_N, DP, PAD_D, False, KV_LOAD)
        acc = tl.dot(p.to(v.dtype), v, acc)
    return m_i, l_i, acc


@triton.jit
def _attend_masked(q, kc_ptr, vc_ptr, k_desc, v_desc, bt_row, kvh, lo, hi, kv_end, q_pos, row_ok, d_ok,
                   m_i, l_i, acc, stride_kb, stride_kn, stride_kh, stride_vb, stride_vn, stride_vh,
                   scale, soft_cap, window, block_size, BLOCK_N: tl.constexpr, DP: tl.constexpr,
                   PAD_D: tl.constexpr, USE_CAP: tl.constexpr, USE_WINDOW: tl.constexpr, CAUSAL: tl.constexpr,
                   KV_LOAD: tl.constexpr):
    """Online softmax over tiles that need masks (context tail, causal diagonal, window): a
    row may have no valid position yet, so its running max can be -inf."""
    n = tl.arange(0, BLOCK_N)
    for start in range(lo, hi, BLOCK_N):
        pos = start + n
        pos_ok = pos < kv_end
        blk, off = _tile_place(bt_row, start, pos_ok, block_size, BLOCK_N, True, KV_LOAD)
        k = _kv_tile(kc_ptr, k_desc, blk, off, kvh, stride_kb, stride_kn, stride_kh, pos_ok, d_ok, block_size,
                     BLOCK_N, DP, PAD_D, True, KV_LOAD)
        s = _log2_scores(tl.dot(q, tl.trans(k)), scale, soft_cap, USE_CAP)
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
        acc = acc * alpha[:, None]
        v = _kv_tile(vc_ptr, v_desc, blk, off, kvh, stride_vb, stride_vn, stride_vh, pos_ok, d_ok, block_size,
                     BLOCK_N, DP, PAD_D, True, KV_LOAD)
        if KV_LOAD == DESC:  # unmasked tile: zero the rows past the context (0 * NaN would poison acc)
            v = tl.where(pos_ok[:, None], v, 0.0)
        acc = tl.dot(p.to(v.dtype), v, acc)
        m_i = m_new
    return m_i, l_i, acc


@triton.jit
def _paged_attn_kernel(q_ptr, kc_ptr, vc_ptr, k_desc, v_desc, kn_desc, vn_desc, stride_knh, stride_vnh,
                       out_ptr, part_ptr, ml_ptr,
                       qb_req_ptr, qb_start_ptr, qsl_ptr, seq_ptr, bt_ptr,
                       stride_qt, stride_qh, stride_ot, stride_oh,
                       stride_kb, stride_kn, stride_kh, stride_vb, stride_vn, stride_vh, stride_bt,
                       scale, soft_cap, window, block_size,
                       GROUP: tl.constexpr, BLOCK_Q: tl.constexpr, ROWS: tl.constexpr, BLOCK_N: tl.constexpr,
                       D: tl.constexpr, DP: tl.constexpr, SPLITS: tl.constexpr,
                       USE_CAP: tl.constexpr, USE_WINDOW: tl.constexpr, CAUSAL: tl.constexpr,
                       TWO_PHASE: tl.constexpr, KV_LOAD: tl.constexpr, TAIL_KV_LOAD: tl.constexpr,
                       NEW_KV: tl.constexpr):
    kvh = tl.program_id(0)  # fastest-varying: every head of one query block launches together
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
        cache_end = full_end
        if NEW_KV:  # tiles past the cached prefix come from the new tokens' key/value tensors
            ctx_len = seq_len - q_len
            cache_end = tl.minimum(full_end, lo + tl.cdiv(tl.maximum(ctx_len - lo, 0), BLOCK_N) * BLOCK_N)
        m_i, l_i, acc = _attend_full(q, kc_ptr, vc_ptr, k_desc, v_desc, bt_row, kvh, lo, cache_end, d_ok, m_i, l_i,
                                     acc, stride_kb, stride_kn, stride_kh, stride_vb, stride_vn, stride_vh, scale,
                                     soft_cap, block_size, BLOCK_N, DP, DP != D, USE_CAP, KV_LOAD)
        if NEW_KV:
            m_i, l_i, acc = _attend_full(q, kc_ptr, vc_ptr, kn_desc, vn_desc, q_begin - ctx_len, kvh, cache_end,
                                         full_end, d_ok, m_i, l_i, acc, 0, 0, stride_knh, 0, 0, stride_vnh, scale,
                                         soft_cap, 1, BLOCK_N, DP, DP != D, USE_CAP, NEW)
    m_i, l_i, acc = _attend_masked(q, kc_ptr, vc_ptr, k_desc, v_desc, bt_row, kvh, full_end, hi, hi, q_pos, row_ok,
                                   d_ok, m_i, l_i, acc, stride_kb, stride_kn, stride_kh, stride_vb, stride_vn,
                                   stride_vh, scale, soft_cap, window, block_size, BLOCK_N, DP, DP != D, USE_CAP,
                                   USE_WINDOW, CAUSAL, TAIL_KV_LOAD)
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
    kv_load: str = "block"  # "gather", "block" or "desc" (see _tile_place); downgraded where a cache can't use it


def _kv_load_mode(plan: AttentionPlan, key_cache: torch.Tensor, value_cache: torch.Tensor, block_n: int) -> int:
    """The K/V read these caches allow. One block lookup per tile needs tiles inside a block.
    Descriptors also need a power-of-two head size and caches whose blocks stack into one
    row-major matrix of ``block_size`` rows per block (vLLM's NHD layouts, K and V packed or
    not), 16-byte aligned."""
    block_size, d = key_cache.shape[1], key_cache.shape[3]
    if plan.kv_load == "gather" or block_size % block_n:
        return GATHER.value
    if plan.kv_load == "desc" and d == triton.next_power_of_2(d):
        if all(c.stride(0) == block_size * c.stride(1) and _rows_describable(c, c.stride(1), c.stride(2))
               for c in (key_cache, value_cache)):
            return DESC.value
    return BLOCK.value


def _rows_describable(t: torch.Tensor, row_stride: int, head_stride: int) -> bool:
    """Whether ``t`` (heads and head size its last two dims) is a row-major matrix a tensor
    descriptor can cover: unit stride inside a head, 16-byte aligned rows, heads inside a row."""
    heads, d = t.shape[-2], t.shape[-1]
    return (t.stride(-1) == 1 and row_stride * t.element_size() % 16 == 0 and t.data_ptr() % 16 == 0
            and head_stride * (heads - 1) + d <= row_stride)


def _row_descriptor(t: torch.Tensor, rows: int, row_stride: int, head_stride: int, block_n: int):
    """A descriptor over ``t`` seen as [rows, row]: head ``h`` of row ``r`` is the tile at
    (``r``, ``h * head_stride``)."""
    from triton.tools.tensor_descriptor import TensorDescriptor

    cols = head_stride * (t.shape[-2] - 1) + t.shape[-1]
    return TensorDescriptor(t, [rows, cols], [row_stride, 1], [block_n, t.shape[-1]])


def _kv_descriptors(key_cache: torch.Tensor, value_cache: torch.Tensor, block_n: int):
    """Descriptors over each cache seen as a [blocks * block_size, row] matrix."""
    return tuple(_row_descriptor(c, c.shape[0] * c.shape[1], c.stride(1), c.stride(2), block_n)
                 for c in (key_cache, value_cache))


def _new_kv_descriptors(key: torch.Tensor | None, value: torch.Tensor | None, key_cache: torch.Tensor,
                        block_n: int):
    """Descriptors over the step's new ``[tokens, kv_heads, head_size]`` keys and values (strided
    views of the QKV projection in vLLM), or None where they can't be described."""
    if key is None or value is None:
        return None
    for t in (key, value):
        if t.dtype != key_cache.dtype or t.shape[1:] != key_cache.shape[2:] or not _rows_describable(
                t, t.stride(0), t.stride(1)):
            return None
    return tuple(_row_descriptor(t, t.shape[0], t.stride(0), t.stride(1), block_n) for t in (key, value))


KV_LOAD_ENV = "IPEX_PLUGIN_ATTN_KV_LOAD"
KV_LOADS = ("gather", "block", "desc")


def default_kv_load(device: torch.device) -> str:
    """How K/V tiles are read unless ``IPEX_PLUGIN_ATTN_KV_LOAD`` says otherwise: tensor
    descriptors where they are TMA (CUDA, compute capability 9+: H100 8k prefill 465 vs 362
    TFLOP/s, BENCHMARKS.md), plain loads elsewhere, Intel GPUs included (Intel's Triton lowers descriptors
    to 2D block loads, but that path has not been measured on Intel hardware)."""
    chosen = os.environ.get(KV_LOAD_ENV, "").strip().lower()
    if chosen:
        if chosen not in KV_LOADS:
            raise ValueError(f"{KV_LOAD_ENV}={chosen!r} is not one of {', '.join(KV_LOADS)}; unset it for the default.")
        return chosen
    if device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 9:
        return "desc"
    return "block"


def make_plan(query_start_loc: torch.Tensor, num_reqs: int, max_query_len: int, num_heads: int,
              num_kv_heads: int, splits: int | None = None, block_q: int | None = None,
              seq_lens: torch.Tensor | None = None, **tuning) -> AttentionPlan:
    """``tuning``: ``block_n``, ``num_warps``, ``num_stages`` (defaults in AttentionPlan).

    With ``seq_lens``, query blocks are ordered by how many KV positions they attend to,
    longest first: causal prefill blocks differ in work by up to the sequence length, and
    launching the long ones last leaves the GPU idle behind a few stragglers.
    """
    group = num_heads // num_kv_heads
    device = query_start_loc.device
    tuning = {"kv_load": default_kv_load(device), **tuning}
    if max_query_len >= 128:
        # Prefill-heavy step: 128-row tiles, 64-position KV tiles, 4 warps (H100 sweep, BENCHMARKS.md).
        rows = 128
        tuning = {"block_n": 64, "num_warps": 4, "num_stages": 2 if tuning["kv_load"] == "desc" else 3, **tuning}
    else:
        rows = 64
    if block_q is None:
        block_q = max(1, min(triton.next_power_of_2(max(max_query_len, 1)), max(1, rows // group)))
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
                    plan: AttentionPlan | None = None, key=None, value=None):
    """Attention of every new token over its request's paged KV (see ``attention_reference``).

    Pass a ``plan`` (``make_plan``, once per step) to keep the launch free of host syncs
    (CUDA/XPU graph capture); without one it is computed here. ``key``/``value``: the step's
    new ``[tokens, kv_heads, head_size]`` keys and values, already written to the cache;
    with descriptor reads, tiles past each request's cached prefix come from them (no
    block-table lookups: H100, 8k prefill, 3-6% faster).
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
    kv_load = _kv_load_mode(plan, key_cache, value_cache, block_n)
    use_desc = kv_load == DESC.value
    k_desc, v_desc = _kv_descriptors(key_cache, value_cache, block_n) if use_desc else (key_cache, value_cache)
    # new-token tiles are read only by the unmasked loop, which a sliding window skips
    read_new = use_desc and plan.two_phase and not sliding_window
    new_kv = _new_kv_descriptors(key, value, key_cache, block_n) if read_new else None
    kn_desc, vn_desc = new_kv or (k_desc, v_desc)
    if splits > 1:
        part = torch.empty((t * num_heads * splits * dp,), device=query.device, dtype=torch.float32)
        ml = torch.empty((t * num_heads * splits * 2,), device=query.device, dtype=torch.float32)
    else:
        part = ml = out
    _paged_attn_kernel[(num_kv, n_qb, splits)](
        query, key_cache, value_cache, k_desc, v_desc, kn_desc, vn_desc,
        key.stride(1) if new_kv else 0, value.stride(1) if new_kv else 0,
        out, part, ml, plan.qb_req, plan.qb_start, qsl, seq_lens, block_table,
        query.stride(0), query.stride(1), out.stride(0), out.stride(1),
        key_cache.stride(0), key_cache.stride(1), key_cache.stride(2),
        value_cache.stride(0), value_cache.stride(1), value_cache.stride(2), block_table.stride(0),
        float(scale), float(logits_soft_cap or 0.0), int(sliding_window or 0), key_cache.shape[1],
        GROUP=group, BLOCK_Q=block_q, ROWS=max(16, triton.next_power_of_2(block_q * group)),
        BLOCK_N=block_n, D=d, DP=dp, SPLITS=splits,
        USE_CAP=bool(logits_soft_cap), USE_WINDOW=bool(sliding_window), CAUSAL=causal, TWO_PHASE=plan.two_phase,
        KV_LOAD=kv_load, TAIL_KV_LOAD=GATHER.value if sliding_window else kv_load,
        NEW_KV=new_kv is not None,
        num_warps=plan.num_warps, num_stages=plan.num_stages,
    )
    if splits > 1:
        _merge_splits_kernel[(t * num_heads,)](part, ml, out, num_heads, out.stride(0), out.stride(1),
                                               SPLITS=splits, SP=triton.next_power_of_2(splits), D=d, DP=dp)
    return out
