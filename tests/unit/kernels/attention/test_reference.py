"""The torch reference paged attention against dense float64 attention.

Bound: max abs error < 1e-5 for float32 inputs (the reference computes in float32).
Batches mix decode (1 new token), chunked prefill continuing a cached prefix, and a
fresh prefill, with random non-contiguous block tables.
"""

from __future__ import annotations

import math

import pytest
import torch

from tests.unit.kernels.attention.dense import dense_attention
from vllm_ipex_plugin.kernels.attention.batch import PagedBatch, mm_range_tensor
from vllm_ipex_plugin.kernels.attention.reference import paged_attention, write_kv_cache

ATOL = 1e-5


@pytest.mark.parametrize("block_size", [8, 16, 64])
@pytest.mark.parametrize("num_heads,num_kv_heads", [(4, 4), (8, 2), (6, 1)])
@pytest.mark.parametrize("window,soft_cap", [(None, None), (7, None), (None, 30.0)])
def test_paged_attention_matches_dense(block_size, num_heads, num_kv_heads, window, soft_cap):
    _check_against_dense(block_size, num_heads, num_kv_heads, window, soft_cap)


# Per request of _check_against_dense: inclusive bidirectional spans. Decode after a span; a span
# straddling the cached prefix and the new chunk; two spans in a fresh prefill (one ending at its
# last token); none.
SPANS = [[(5, 20)], [(45, 60)], [(3, 9), (14, 22)], []]


@pytest.mark.parametrize("block_size", [8, 64])
@pytest.mark.parametrize("window,clamp", [(None, False), (4, False), (4, True)])
def test_bidirectional_spans_match_dense(block_size, window, clamp):
    _check_against_dense(block_size, 8, 2, window, None, SPANS, clamp)


def _check_against_dense(block_size, num_heads, num_kv_heads, window, soft_cap, spans=None, clamp=False):
    gen = torch.Generator().manual_seed(block_size * 100 + num_heads * 10 + num_kv_heads)
    head = 32
    # (context already cached, new tokens): decode, chunk continuing a prefix, fresh prefill
    requests = [(37, 1), (50, 19), (0, 23), (block_size, 1)]
    num_blocks = 64
    key_cache = torch.full((num_blocks, block_size, num_kv_heads, head), float("nan"))
    value_cache = torch.full_like(key_cache, float("nan"))
    perm = torch.randperm(num_blocks, generator=gen)
    max_blocks = max(math.ceil((c + n) / block_size) for c, n in requests)
    block_table = torch.zeros(len(requests), max_blocks, dtype=torch.int32)
    used = 0
    full_k, full_v, queries, starts, seq_lens = [], [], [], [0], []
    for i, (cached, new) in enumerate(requests):
        total = cached + new
        nb = math.ceil(total / block_size)
        block_table[i, :nb] = perm[used : used + nb].to(torch.int32)
        used += nb
        k = torch.randn(total, num_kv_heads, head, generator=gen)
        v = torch.randn(total, num_kv_heads, head, generator=gen)
        slots = torch.tensor(
            [int(block_table[i, p // block_size]) * block_size + p % block_size for p in range(total)]
        )
        write_kv_cache(k, v, key_cache, value_cache, slots)
        full_k.append(k)
        full_v.append(v)
        queries.append(torch.randn(new, num_heads, head, generator=gen))
        starts.append(starts[-1] + new)
        seq_lens.append(total)
    query = torch.cat(queries)
    out = torch.full_like(query, float("nan"))
    batch = PagedBatch(
        query_start_loc=torch.tensor(starts, dtype=torch.int32),
        seq_lens=torch.tensor(seq_lens, dtype=torch.int32),
        block_table=block_table,
        num_reqs=len(requests),
        mm_ranges=mm_range_tensor(dict(enumerate(spans)), len(requests), "cpu") if spans else None,
    )
    scale = head**-0.5
    paged_attention(query, key_cache, value_cache, batch, scale, out, window, soft_cap, clamp)
    assert not torch.isnan(out).any(), "unwritten output or read of an unwritten cache slot"
    for i in range(len(requests)):
        ref = dense_attention(queries[i], full_k[i], full_v[i], scale, window, soft_cap, spans[i] if spans else (),
                              clamp)
        got = out[starts[i] : starts[i + 1]].double()
        assert (got - ref).abs().max().item() < ATOL


def test_padding_slots_are_skipped():
    key_cache = torch.zeros(2, 8, 1, 4)
    value_cache = torch.zeros_like(key_cache)
    k = torch.ones(3, 1, 4)
    write_kv_cache(k, k, key_cache, value_cache, torch.tensor([0, -1, 9]))
    assert key_cache[0, 0].eq(1).all() and key_cache[1, 1].eq(1).all()
    assert key_cache.sum().item() == 8.0


def test_span_tensor_pads_to_a_power_of_two_and_skips_empty_steps():
    t = mm_range_tensor({0: [(1, 4)], 2: [(0, 3), (5, 9), (11, 12)]}, 3, "cpu")
    assert t.dtype == torch.int32 and t.shape == (3, 4, 2)
    assert t[0].tolist() == [[1, 4], [0, 0], [0, 0], [0, 0]] and t[1].eq(0).all()
    assert t[2, :3].tolist() == [[0, 3], [5, 9], [11, 12]]
    assert mm_range_tensor({}, 2, "cpu") is None and mm_range_tensor({0: []}, 1, "cpu") is None
    assert mm_range_tensor(None, 1, "cpu") is None
