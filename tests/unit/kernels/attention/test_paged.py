"""Triton paged attention under TRITON_INTERPRET=1 against the torch reference.

Same batches as test_reference (decode, chunk continuing a cached prefix,
fresh prefill; random block tables; NaN-poisoned caches and outputs), head sizes 64 and
80 (padded), GQA ratios 1, 4, 6, and forced context splits. Bound: max abs error 2e-5
(float32 in the interpreter).
"""

from __future__ import annotations

import math

import pytest
import torch

from tests.triton_interpreter import import_interpreted, interpreter_env  # noqa: F401

at = import_interpreted("vllm_ipex_plugin.kernels.attention.launch")

from vllm_ipex_plugin.kernels.attention import reference as ref  # noqa: E402
from vllm_ipex_plugin.kernels.attention.batch import KvRead, PagedBatch  # noqa: E402
from vllm_ipex_plugin.kernels.attention.descriptors import new_kv_describable  # noqa: E402
from vllm_ipex_plugin.kernels.attention.plan import kv_read, paged_config  # noqa: E402

ATOL = 2e-5


pytestmark = pytest.mark.usefixtures("interpreter_env")


def _batch(block_size, num_kv, head, requests, gen, packed=False):
    """``packed``: K and V share one [blocks, block_size, kv_heads, 2 * head] tensor (vLLM's NHD cache)."""
    num_blocks = 48
    if packed:
        kc, vc = torch.full((num_blocks, block_size, num_kv, 2 * head), float("nan")).split(head, dim=-1)
    else:
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
    batch = PagedBatch(qsl, sl_t, table, len(requests))
    expected = torch.full_like(query, float("nan"))
    ref.paged_attention(query, kc2, vc2, batch, head**-0.5, expected, window, cap)
    out = torch.full_like(query, float("nan"))
    at.paged_attention(query, kc, vc, qsl, sl_t, table, len(requests), max(n for _, n in requests),
                       head**-0.5, out, window, cap, splits=splits)
    assert not torch.isnan(out).any()
    assert (out - expected).abs().max().item() < ATOL


# Inclusive bidirectional spans per request of test_bidirectional_spans_match_reference: before a
# decode token; straddling a cached prefix and its new chunk; two in a fresh prefill (one ending at
# its last token); none.
SPANS = [[(3, 12)], [(35, 50)], [(2, 8), (12, 20)], []]


@pytest.mark.parametrize("block_size,kv_load", [(16, "block"), (64, "desc"), (8, "gather")])
@pytest.mark.parametrize("window,splits,clamp", [(None, 1, False), (None, 2, False), (5, 1, False), (5, 2, True)])
def test_bidirectional_spans_match_reference(block_size, kv_load, window, splits, clamp, monkeypatch):
    """Multimodal prefix-LM spans: a query inside a span also sees the span's later keys, across KV
    tiles and context splits, with and without a sliding window, and with spans clamped to it
    (Gemma4's sliding layers)."""
    from vllm_ipex_plugin.kernels.attention.batch import mm_range_tensor

    monkeypatch.setenv("IPEX_PLUGIN_ATTN_KV_LOAD", kv_load)
    gen = torch.Generator().manual_seed(block_size + splits)
    requests = [(29, 1), (40, 17), (0, 21), (block_size, 1)]
    kc, vc, table, starts, seq_lens, keys, values, slots = _batch(block_size, 2, 64, requests, gen, packed=True)
    for k, v, sl in zip(keys, values, slots, strict=True):
        at.write_kv_cache(k, v, kc, vc, sl)
    query = torch.randn(starts[-1], 8, 64, generator=gen)
    qsl, sl_t = torch.tensor(starts, dtype=torch.int32), torch.tensor(seq_lens, dtype=torch.int32)
    spans = mm_range_tensor(dict(enumerate(SPANS)), len(requests), "cpu")
    expected = torch.full_like(query, float("nan"))
    ref.paged_attention(query, kc, vc, PagedBatch(qsl, sl_t, table, len(requests), mm_ranges=spans), 0.125,
                        expected, window, clamp_spans=clamp)
    causal = torch.full_like(query, float("nan"))
    ref.paged_attention(query, kc, vc, PagedBatch(qsl, sl_t, table, len(requests)), 0.125, causal, window)
    assert (expected - causal).abs().max().item() > 0.01  # the spans change the answer
    if clamp:  # and clamping them to the window changes it again
        unclamped = torch.full_like(query, float("nan"))
        ref.paged_attention(query, kc, vc, PagedBatch(qsl, sl_t, table, len(requests), mm_ranges=spans), 0.125,
                            unclamped, window)
        assert (expected - unclamped).abs().max().item() > 0.01
    out = torch.full_like(query, float("nan"))
    at.paged_attention(query, kc, vc, qsl, sl_t, table, len(requests), max(n for _, n in requests), 0.125, out,
                       window, splits=splits, mm_ranges=spans, clamp_spans=clamp)
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
    ref.paged_attention(query, kc, vc, PagedBatch(qsl, sl_t, table, 3), 0.125, expected)
    out = torch.full_like(query, float("nan"))
    at.paged_attention(query, kc, vc, qsl, sl_t, table, 3, 1, 0.125, out)
    assert (out - expected).abs().max().item() < ATOL


@pytest.mark.parametrize("kv_load", ["gather", "block", "desc", "desc+new"])
@pytest.mark.parametrize("block_size,block_n,packed", [(16, 16, True), (32, 16, False), (16, 32, True)])
@pytest.mark.parametrize("window,cap,splits", [(None, None, 1), (None, None, 2), (9, None, 1), (None, 20.0, 1)])
def test_kv_load_modes_match_reference(kv_load, block_size, block_n, packed, window, cap, splits):
    """Every K/V read (per-position gather, one lookup per tile, tensor descriptors, and
    descriptors over the step's new keys/values for tiles past the cached prefix) on prefill
    below and on the diagonal, a cached prefix, decode and a tail tile, with separate and
    packed K/V caches. With ``block_n > block_size`` tiles span blocks, so the plan must
    fall back to the gather."""
    gen = torch.Generator().manual_seed(block_size * 7 + block_n)
    requests = [(70, 1), (40, 37), (0, 50), (block_size, 1)]
    heads, kv_heads, head = 8, 2, 64
    kc, vc, table, starts, seq_lens, keys, values, slots = _batch(block_size, kv_heads, head, requests, gen, packed)
    for k, v, sl in zip(keys, values, slots, strict=True):
        at.write_kv_cache(k, v, kc, vc, sl)
    # the step's tokens as vLLM hands them over: q, k and v strided views of one projection output
    qkv = torch.randn(starts[-1], (heads + 2 * kv_heads) * head, generator=gen)
    query = qkv[:, : heads * head].view(-1, heads, head)
    new_key = qkv[:, heads * head : (heads + kv_heads) * head].view(-1, kv_heads, head)
    new_value = qkv[:, (heads + kv_heads) * head :].view(-1, kv_heads, head)
    for i, (cached, _) in enumerate(requests):
        new_key[starts[i] : starts[i + 1]] = keys[i][cached:]
        new_value[starts[i] : starts[i + 1]] = values[i][cached:]
    qsl, sl_t = torch.tensor(starts, dtype=torch.int32), torch.tensor(seq_lens, dtype=torch.int32)
    expected = torch.full_like(query, float("nan"))
    ref.paged_attention(query, kc, vc, PagedBatch(qsl, sl_t, table, 4), 0.125, expected, window, cap)
    load = kv_load.removesuffix("+new")
    plan = at.make_plan(qsl, 4, 50, heads, kv_heads, splits=splits, seq_lens=sl_t, block_n=block_n, kv_load=load)
    mode = kv_read(plan, kc, vc, block_n)
    tiles_in_blocks = load != "gather" and block_n <= block_size
    assert mode == ({"block": KvRead.BLOCK, "desc": KvRead.DESC}[load] if tiles_in_blocks else KvRead.GATHER)
    extra = {}
    if kv_load == "desc+new":
        extra = {"key": new_key, "value": new_value}
        assert new_kv_describable(new_key, new_value, kc)
        config = paged_config(plan, heads, kc, vc, new_key, new_value, window, cap, True)
        assert config.constexprs["NEW_KV"] == (tiles_in_blocks and window is None)  # read where the plan can
    out = torch.full_like(query, float("nan"))
    at.paged_attention(query, kc, vc, qsl, sl_t, table, 4, 50, 0.125, out, window, cap, plan=plan, **extra)
    assert (out - expected).abs().max().item() < ATOL


@pytest.mark.parametrize("kv_load,dtype,bound", [("block", torch.float32, 5e-5), ("desc", torch.float32, 5e-5),
                                                  ("block", torch.float16, 5e-3)])
def test_growing_scores_match_reference(kv_load, dtype, bound):
    """Scores that rise along the context, steeply (the running maximum jumps every tile) and
    gently, so the online softmax rescales its accumulator over and over, in float32 and fp16.
    The float32 bound is 5e-5 because logits reach ~100, where float32 rounds q.k ~1e-5 apart
    in kernel and reference."""
    gen = torch.Generator().manual_seed(11)
    requests = [(150, 40), (150, 40)]
    kc, vc, table, starts, seq_lens, keys, values, slots = _batch(16, 2, 64, requests, gen)
    u = torch.randn(64, generator=gen)
    u = u / u.norm() * 8.0
    # growth of the row maximum per 16-key tile: 0.05 * 16 * 64 * 0.125 * log2(e) = 9.2 and 1.8 (log2 units)
    for k, rate in zip(keys, (0.05, 0.01), strict=True):
        k += rate * torch.arange(k.shape[0]).float()[:, None, None] * u
    kc, vc = kc.to(dtype), vc.to(dtype)
    for k, v, sl in zip(keys, values, slots, strict=True):
        at.write_kv_cache(k.to(dtype), v.to(dtype), kc, vc, sl)
    query = u.expand(starts[-1], 4, 64).clone() + 0.1 * torch.randn(starts[-1], 4, 64, generator=gen)
    query = query.to(dtype)
    qsl, sl_t = torch.tensor(starts, dtype=torch.int32), torch.tensor(seq_lens, dtype=torch.int32)
    expected = torch.empty(query.shape)
    ref.paged_attention(query.float(), kc.float(), vc.float(), PagedBatch(qsl, sl_t, table, 2), 0.125, expected)
    plan = at.make_plan(qsl, 2, 40, 4, 2, seq_lens=sl_t, block_n=16, kv_load=kv_load)
    out = torch.full_like(query, float("nan"))
    at.paged_attention(query, kc, vc, qsl, sl_t, table, 2, 40, 0.125, out, plan=plan)
    assert (out.float() - expected).abs().max().item() < bound


@pytest.mark.parametrize("arch", ["pvc", "dg2"])
@pytest.mark.parametrize("head", [96, 192, 256])
@pytest.mark.parametrize("window,cap", [(None, None), (5, 20.0)])
def test_intel_planned_launches_match_reference(arch, head, window, cap):
    """The tiles, head halves and column slices (wide heads) and run-time split count the plugin
    plans for an Intel GPU compute the reference result: mixed steps with one query tile for every
    step shape (also with the context split in two), and a decode step split across programs."""
    from vllm_ipex_plugin.kernels.common.device import INTEL_TARGETS

    facts = INTEL_TARGETS[arch]
    gen = torch.Generator().manual_seed(head + len(arch))
    num_heads, num_kv, block_size = 8, 2, 16
    for requests in ([(29, 1), (40, 17), (0, 21), (block_size, 1)], [(70, 1), (33, 1)]):
        kc, vc, table, starts, seq_lens, keys, values, slots = _batch(block_size, num_kv, head, requests, gen)
        for k, v, sl in zip(keys, values, slots, strict=True):
            at.write_kv_cache(k, v, kc, vc, sl)
        query = torch.randn(starts[-1], num_heads, head, generator=gen)
        qsl, sl_t = torch.tensor(starts, dtype=torch.int32), torch.tensor(seq_lens, dtype=torch.int32)
        max_q = max(n for _, n in requests)
        plan = at.make_plan(qsl, len(requests), max_q, num_heads, num_kv, seq_lens=sl_t, facts=facts, head_size=head)
        assert plan.splits > 1 or max_q > 1
        config = paged_config(plan, num_heads, kc, vc, None, None, window, cap, True)
        wide, decode = head > 128, max_q == 1
        assert config.constexprs["HALVES"] == (2 if wide and not decode else 1)
        assert config.constexprs["SCORE_FMA"] == (16 if wide and decode else 0)
        assert config.constexprs["COLS"] == (4 if wide and not decode and arch == "pvc" else 1)
        expected = torch.full_like(query, float("nan"))
        ref.paged_attention(query, kc, vc, PagedBatch(qsl, sl_t, table, len(requests)), head**-0.5, expected,
                            window, cap)
        plans = [plan]
        if config.constexprs["COLS"] > 1:  # the context split too: partial results of every column slice
            plans.append(at.make_plan(qsl, len(requests), max_q, num_heads, num_kv, splits=2, seq_lens=sl_t,
                                      facts=facts, head_size=head))
        for p in plans:
            out = torch.full_like(query, float("nan"))
            at.paged_attention(query, kc, vc, qsl, sl_t, table, len(requests), max_q, head**-0.5, out, window, cap,
                               plan=p)
            assert not torch.isnan(out).any()
            assert (out - expected).abs().max().item() < ATOL
