"""Torch reference kernels for paged attention (host mode and the fallback everywhere), over
the layout of ``batch``.

The math runs in float32 whatever the input dtype: this is the reference the Triton
kernels are checked against.
"""

from __future__ import annotations

import torch

from vllm_ipex_plugin.kernels.attention.batch import PagedBatch


def write_kv_cache(
    key: torch.Tensor,
    value: torch.Tensor,
    key_cache: torch.Tensor,
    value_cache: torch.Tensor,
    slot_mapping: torch.Tensor,
) -> None:
    """Scatter ``key``/``value`` ``[num_tokens, num_kv_heads, head_size]`` into the cache."""
    num_tokens = slot_mapping.shape[0]
    slots = slot_mapping.to(torch.int64)
    valid = slots >= 0
    if not bool(valid.all()):
        slots = slots[valid]
        key = key[:num_tokens][valid]
        value = value[:num_tokens][valid]
    else:
        key = key[:num_tokens]
        value = value[:num_tokens]
    block_size = key_cache.shape[1]
    blocks = torch.div(slots, block_size, rounding_mode="floor")
    offsets = slots - blocks * block_size
    key_cache[blocks, offsets] = key.to(key_cache.dtype)
    value_cache[blocks, offsets] = value.to(value_cache.dtype)


def _gather_context(
    cache: torch.Tensor, block_ids: torch.Tensor, context_len: int
) -> torch.Tensor:
    """``[context_len, num_kv_heads, head_size]`` tokens of one request."""
    blocks = cache[block_ids]  # [n_blocks, block_size, H, D]
    return blocks.reshape(-1, cache.shape[2], cache.shape[3])[:context_len]


def mm_span_mask(spans: torch.Tensor, q_pos: torch.Tensor, k_pos: torch.Tensor) -> torch.Tensor:
    """Where a query and a key lie in one bidirectional span (``spans``: ``[ranges, 2]`` inclusive
    ``(start, end)``; ``start >= end`` is padding): vLLM's ``(causal AND window) OR span`` mask."""
    out = torch.zeros(q_pos.shape[0], k_pos.shape[1], dtype=torch.bool, device=q_pos.device)
    for start, end in spans.tolist():
        if start < end:
            out |= (q_pos >= start) & (q_pos <= end) & (k_pos >= start) & (k_pos <= end)
    return out


def paged_attention(
    query: torch.Tensor,
    key_cache: torch.Tensor,
    value_cache: torch.Tensor,
    batch: PagedBatch,
    scale: float,
    out: torch.Tensor,
    sliding_window: int | None = None,
    logits_soft_cap: float | None = None,
    clamp_spans: bool = False,
) -> torch.Tensor:
    """Attention of every new query token over its request's cached keys and values.

    Covers prefill, decode, mixed batches (chunked prefill) and cached prefixes in one
    code path. GQA/MQA: query head ``h`` reads KV head ``h // (num_heads // num_kv_heads)``.
    ``sliding_window`` keeps keys with ``query_pos - key_pos < sliding_window``;
    ``logits_soft_cap`` applies ``cap * tanh(score / cap)`` before the softmax.
    ``batch.mm_ranges``: spans whose positions also see each other (``mm_span_mask``); with
    ``clamp_spans``, only within ``sliding_window`` (vLLM's ``mm_prefix_clamp_sliding_window``).
    """
    num_heads = query.shape[1]
    num_kv_heads = key_cache.shape[2]
    group = num_heads // num_kv_heads
    block_size = key_cache.shape[1]
    starts = batch.query_start_loc[: batch.num_reqs + 1].tolist()
    seq_lens = batch.seq_lens[: batch.num_reqs].tolist()
    for i in range(batch.num_reqs):
        q_start, q_end = starts[i], starts[i + 1]
        q_len, ctx = q_end - q_start, seq_lens[i]
        if q_len == 0:
            continue
        n_blocks = (ctx + block_size - 1) // block_size
        block_ids = batch.block_table[i, :n_blocks].to(torch.int64)
        k = _gather_context(key_cache, block_ids, ctx).float()
        v = _gather_context(value_cache, block_ids, ctx).float()
        if group > 1:
            k = k.repeat_interleave(group, dim=1)
            v = v.repeat_interleave(group, dim=1)
        q = query[q_start:q_end].float()  # [q_len, H, D]
        scores = torch.einsum("qhd,khd->hqk", q, k) * scale
        if logits_soft_cap:
            scores = logits_soft_cap * torch.tanh(scores / logits_soft_cap)
        q_pos = torch.arange(ctx - q_len, ctx, device=q.device).unsqueeze(1)
        k_pos = torch.arange(ctx, device=q.device).unsqueeze(0)
        allowed = torch.ones(q_len, ctx, dtype=torch.bool, device=q.device)
        if batch.causal:
            allowed &= k_pos <= q_pos
        if sliding_window is not None and sliding_window > 0:
            allowed &= (q_pos - k_pos) < sliding_window
        if batch.mm_ranges is not None:
            spans = mm_span_mask(batch.mm_ranges[i], q_pos, k_pos)
            if clamp_spans and sliding_window:
                spans &= (q_pos - k_pos) < sliding_window
            allowed |= spans
        scores = scores.masked_fill(~allowed, float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        out[q_start:q_end] = torch.einsum("hqk,khd->qhd", probs, v).to(out.dtype)
    return out
