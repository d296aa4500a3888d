"""Triton paged attention under TRITON_INTERPRET=1 against the torch reference.

Same batches as test_attention_reference (decode, chunk continuing a cached prefix,
fresh prefill; random block tables; NaN-poisoned caches and outputs), head sizes 64 and
80 (padded), GQA ratios 1, 4, 6, and forced context splits. Bound: max abs error 2e-5
(float32 in the interpreter).
"""

from __future__ import annotations

import math

import pytest
import torch

from tests.triton_interpreter import import_interpreted, interpreter_env  # noqa: F401

at = import_interpreted("vllm_ipex_plugin.kernels.attention_triton")

from vllm_ipex_plugin.kernels import attention_reference as ref  # noqa: E402

ATOL = 2e-5


pytestmark = pytest.mark.usefixtures("interpreter_env")


def _batch(block_size, num_kv, head, requests, gen):
    num_blocks = 48
    kc = torch.full((num_blocks, block_size, num_kv, head), float("nan"))
    vc = torch.full_like(kc, float("nan"))
    perm = torch.randperm(num_blocks, generator=gen)
    max_blocks = max(math.ceil((c + n) / block_size) for c, n in requests)
    table = torch.zeros(len(requests), max_blocks, dtype=torch.int32)
    used, starts, seq_lens, keys, values, slots_all = 0, [0], [], [], [], []
    for i, (cached, new) in enumerate(requests):
        total = cached + new
        nb = math.ceil(total / block_size)
        table[i, :nb] = perm[used : used + nb].to(torch.int32)
        used += nb
        keys.append(torch.randn(total, num_kv, head, generator=gen))
        values.append(torch.randn(total, num_kv, head, generator=gen))
        slots_all.append(torch.tensor([int(table[i, p // block_size]) * block_size + p % block_size
                                       for p in range(total)]))
        starts.append(starts[-1] + new)
        seq_lens.append(total)
    return kc, vc, table, starts, seq_lens, keys, values, slots_all


@pytest.mark.parametrize("block_size", [8, 16, 64])
@pytest.mark.parametrize("num_heads,num_kv,head", [(4, 4, 64), (8, 2, 64), (6, 1, 80)])
@pytest.mark.parametrize("window,cap,splits", [(None, None, 1), (None, None, 3), (5, None, 1), (None, 20.0, 2)])
def test_matches_reference(block_size, num_heads, num_kv, head, window, cap, splits):
    gen = torch.Generator().manual_seed(block_size + num_heads + head)
    requests = [(29, 1), (40, 17), (0, 21), (block_size, 1)]
    kc, vc, table, starts, seq_lens, keys, values, slots = _batch(block_size, num_kv, head, requests, gen)
    kc2, vc2 = kc.clone(), vc.clone()
    for k, v, sl in zip(keys, values, slots, strict=True):
        at.write_kv_cache(k, v, kc, vc, sl)
        ref.write_kv_cache(k, v, kc2, vc2, sl)
    assert torch.equal(torch.nan_to_num(kc, 7.0), torch.nan_to_num(kc2, 7.0))
    query = torch.randn(starts[-1], num_heads, head, generator=gen)
    qsl = torch.tensor(starts, dtype=torch.int32)
    sl_t = torch.tensor(seq_lens, dtype=torch.int32)
    batch = ref.PagedBatch(qsl, sl_t, table, len(requests))
    expected = torch.full_like(query, float("nan"))
    ref.paged_attention(query, kc2, vc2, batch, head**-0.5, expected, window, cap)
    out = torch.full_like(query, float("nan"))
    at.paged_attention(query, kc, vc, qsl, sl_t, table, len(requests), max(n for _, n in requests),
                       head**-0.5, out, window, cap, splits=splits)
    assert not torch.isnan(out).any()
    assert (out - expected).abs().max().item() < ATOL


def test_decode_only_batch_with_default_splits():
    gen = torch.Generator().manual_seed(3)
    requests = [(100, 1), (7, 1), (64, 1)]
    kc, vc, table, starts, seq_lens, keys, values, slots = _batch(16, 2, 64, requests, gen)
    for k, v, sl in zip(keys, values, slots, strict=True):
        at.write_kv_cache(k, v, kc, vc, sl)
    query = torch.randn(3, 8, 64, generator=gen)
    qsl, sl_t = torch.tensor(starts, dtype=torch.int32), torch.tensor(seq_lens, dtype=torch.int32)
    expected = torch.empty_like(query)
    ref.paged_attention(query, kc, vc, ref.PagedBatch(qsl, sl_t, table, 3), 0.125, expected)
    out = torch.full_like(query, float("nan"))
    at.paged_attention(query, kc, vc, qsl, sl_t, table, 3, 1, 0.125, out)
    assert (out - expected).abs().max().item() < ATOL
