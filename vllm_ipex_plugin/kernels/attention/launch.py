"""The host entry of the Triton attention kernels: ``paged_attention`` (plan, descriptors,
the paged kernel, the split merge), ``write_kv_cache``, and ``launch_configs``, every
launch the plugin would make for a model's attention shape on a given device.

K/V tiles are read one of three ways (``AttentionPlan.kv_load``, ``batch.KvRead``):
per-position block lookups (any block size), one lookup per tile with plain loads
(portable default), or tensor descriptors (TMA on Hopper; Intel's backend lowers them to
2D block loads). With descriptors and the step's key/value tensors passed in, tiles of new
tokens skip the block table altogether.

Imports every module of the package but ``reference``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from vllm_ipex_plugin.kernels.attention.batch import KvRead
from vllm_ipex_plugin.kernels.attention.descriptors import kv_descriptors, new_kv_descriptors
from vllm_ipex_plugin.kernels.attention.kv_write import write_kv_cache, write_kv_kernel
from vllm_ipex_plugin.kernels.attention.merge import merge_splits_kernel
from vllm_ipex_plugin.kernels.attention.paged import paged_attn_kernel
from vllm_ipex_plugin.kernels.attention.plan import (
    LONG_PREFILL,
    AttentionPlan,
    kv_write_config,
    make_plan,
    merge_config,
    paged_config,
)
from vllm_ipex_plugin.kernels.common.device import DeviceFacts

__all__ = ["KernelLaunch", "launch_configs", "make_plan", "paged_attention", "write_kv_cache"]


def paged_attention(query, key_cache, value_cache, query_start_loc, seq_lens, block_table, num_reqs: int,
                    max_query_len: int, scale: float, out, sliding_window=None, logits_soft_cap=None,
                    causal: bool = True, splits: int | None = None, block_q: int | None = None,
                    plan: AttentionPlan | None = None, key=None, value=None, mm_ranges=None,
                    clamp_spans: bool = False):
    """Attention of every new token over its request's paged KV (see ``reference.paged_attention``).

    Pass a ``plan`` (``make_plan``, once per step) to keep the launch free of host syncs
    (CUDA/XPU graph capture); without one it is computed here. ``key``/``value``: the step's
    new ``[tokens, kv_heads, head_size]`` keys and values, already written to the cache;
    with descriptor reads, tiles past each request's cached prefix come from them (no
    block-table lookups; BENCHMARKS.md, prefill). ``mm_ranges``: bidirectional spans per request
    (``PagedBatch.mm_ranges``); ``clamp_spans``: only within ``sliding_window``.
    """
    t, num_heads, d = query.shape
    if plan is None:
        plan = make_plan(query_start_loc, num_reqs, max_query_len, num_heads, key_cache.shape[2], splits, block_q,
                         seq_lens, head_size=d)
    n_qb = plan.qb_req.shape[0]
    if n_qb == 0:
        return out
    config = paged_config(plan, num_heads, key_cache, value_cache, key, value, sliding_window, logits_soft_cap,
                          causal, mm_ranges=0 if mm_ranges is None else mm_ranges.shape[1],
                          clamp_spans=clamp_spans)
    c = config.constexprs
    splits, block_n, dp = plan.splits, c["BLOCK_N"], c["DP"]
    use_desc = c["KV_LOAD"] == KvRead.DESC
    k_desc, v_desc = kv_descriptors(key_cache, value_cache, block_n) if use_desc else (key_cache, value_cache)
    kn_desc, vn_desc = new_kv_descriptors(key, value, block_n) if c["NEW_KV"] else (k_desc, v_desc)
    if splits > 1:
        part = torch.empty((t * num_heads * splits * dp,), device=query.device, dtype=torch.float32)
        ml = torch.empty((t * num_heads * splits * 2,), device=query.device, dtype=torch.float32)
    else:
        part = ml = out
    paged_attn_kernel[(key_cache.shape[2] * c["COLS"], n_qb, splits)](
        query, key_cache, value_cache, k_desc, v_desc, kn_desc, vn_desc,
        key.stride(1) if c["NEW_KV"] else 0, value.stride(1) if c["NEW_KV"] else 0,
        out, part, ml, plan.qb_req, plan.qb_start, query_start_loc, seq_lens, block_table,
        seq_lens if mm_ranges is None else mm_ranges,
        query.stride(0), query.stride(1), out.stride(0), out.stride(1),
        key_cache.stride(0), key_cache.stride(1), key_cache.stride(2),
        value_cache.stride(0), value_cache.stride(1), value_cache.stride(2), block_table.stride(0),
        float(scale), float(logits_soft_cap or 0.0), int(sliding_window or 0), key_cache.shape[1], splits,
        **config.kwargs(),
    )
    if splits > 1:
        merge_splits_kernel[(t * num_heads,)](part, ml, out, num_heads, out.stride(0), out.stride(1), splits,
                                              **merge_config(splits, d, plan.facts).kwargs())
    return out


@dataclass(frozen=True)
class KernelLaunch:
    """One distinct compilation the plugin launches: the kernel (a ``triton.JITFunction``), its
    constexprs, ``num_warps`` / ``num_stages`` (None: the backend's default) and the steps
    that use it (``cases``). Tensors are of the model's ``dtype`` (partial results of a split
    float32, block tables and slots int32); where ``KV_LOAD == KvRead.DESC`` the paged
    kernel's ``k_desc`` / ``v_desc`` are tensor descriptors of ``[BLOCK_N, D]`` tiles over
    the caches, and where ``NEW_KV`` also ``kn_desc`` / ``vn_desc`` over the new keys/values."""

    name: str
    kernel: object
    constexprs: dict[str, int | bool]
    num_warps: int | None
    num_stages: int | None
    cases: tuple[str, ...]
    options: dict = field(default_factory=dict)  # backend compile options (Intel: grf_mode, threads_per_warp)

    @property
    def module(self) -> str:
        """The module defining the kernel (what the Intel compile check imports)."""
        return getattr(self.kernel, "fn", self.kernel).__module__

    @property
    def function(self) -> str:
        return getattr(self.kernel, "fn", self.kernel).__name__


def _vllm_layout(num_heads: int, num_kv_heads: int, head_size: int, block_size: int, dtype: torch.dtype):
    """Meta tensors laid out as vLLM hands them to the backend: the cache packed NHD (K and V on
    the last dim of one tensor) and the new keys/values as views of one QKV projection output."""
    cache = torch.empty(2, block_size, num_kv_heads, 2 * head_size, dtype=dtype, device="meta")
    key_cache, value_cache = cache.split(head_size, dim=-1)
    qkv = torch.empty(1, (num_heads + 2 * num_kv_heads) * head_size, dtype=dtype, device="meta")
    q_end, k_end = num_heads * head_size, (num_heads + num_kv_heads) * head_size
    key = qkv[:, q_end:k_end].view(-1, num_kv_heads, head_size)
    value = qkv[:, k_end:].view(-1, num_kv_heads, head_size)
    return key_cache, value_cache, key, value


def _step_plans(num_heads: int, num_kv_heads: int, head_size: int, facts: DeviceFacts, **tuning):
    """(case, plan) for every step shape that gives a distinct plan: decode at every batch size
    that changes the context split, mixed steps by the power of two of their longest request
    (it sets the query block), and prefill (128 new tokens and more; with a long context)."""
    plans = []
    reqs = 1
    while True:
        qsl = torch.arange(reqs + 1, dtype=torch.int32)
        plan = make_plan(qsl, reqs, 1, num_heads, num_kv_heads, facts=facts, head_size=head_size, **tuning)
        plans.append((f"decode, {reqs} requests", plan))
        if plan.splits == 1:
            break
        reqs *= 2
    q_len = 2
    while q_len <= 128:
        qsl = torch.tensor([0, 1, 1 + q_len], dtype=torch.int32)
        seq_lens = torch.tensor([q_len, q_len], dtype=torch.int32)
        plan = make_plan(qsl, 2, q_len, num_heads, num_kv_heads, seq_lens=seq_lens, facts=facts, head_size=head_size,
                         **tuning)
        plans.append((f"prefill, {q_len}+ new tokens" if q_len == 128 else f"mixed, up to {q_len} new tokens", plan))
        q_len *= 2
    qsl = torch.tensor([0, 128], dtype=torch.int32)
    long_context = torch.tensor([LONG_PREFILL], dtype=torch.int32)
    plans.append(("prefill, 8k+ context", make_plan(qsl, 1, 128, num_heads, num_kv_heads, seq_lens=long_context,
                                                     facts=facts, head_size=head_size, max_seq_len=LONG_PREFILL,
                                                     **tuning)))
    return plans


def launch_configs(facts: DeviceFacts, head_size: int, num_heads: int, num_kv_heads: int, block_size: int,
                   dtype: torch.dtype, *, sliding_window: int | None = None, logits_soft_cap: float | None = None,
                   kv_load: str | None = None, mm_ranges: int = 0, clamp_spans: bool = False) -> list[KernelLaunch]:
    """Every distinct kernel launch the plugin makes for one attention shape (per
    tensor-parallel shard: ``num_heads`` / ``num_kv_heads`` of one rank) on the device
    ``facts`` describes: KV write, the paged kernel for decode (each context split), mixed and
    prefill steps, and the split merge. Planned by the code the launches use (``make_plan``,
    ``paged_config``, ...), over vLLM's tensor layouts; ``kv_load`` forces a K/V read as
    ``IPEX_PLUGIN_ATTN_KV_LOAD`` does (which, when set, applies here too). ``mm_ranges``: the
    span count per request of a multimodal prefix LM's steps (0: none); decode-only steps never
    take spans (``attention.backend``), so only the mixed and prefill launches change;
    ``clamp_spans``: spans clamped to the sliding window (Gemma4's sliding layers)."""
    tuning = {"kv_load": kv_load} if kv_load else {}
    key_cache, value_cache, key, value = _vllm_layout(num_heads, num_kv_heads, head_size, block_size, dtype)
    found: dict[tuple, tuple[str, object, object, list[str]]] = {}

    def add(name, kernel, config, case):
        key_ = (name, tuple(sorted(config.constexprs.items())), config.num_warps, config.num_stages,
                tuple(sorted(config.options.items())))
        found.setdefault(key_, (name, kernel, config, []))[3].append(case)

    add("write_kv", write_kv_kernel, kv_write_config(num_kv_heads, head_size, facts), "every step")
    for case, plan in _step_plans(num_heads, num_kv_heads, head_size, facts, **tuning):
        config = paged_config(plan, num_heads, key_cache, value_cache, key, value, sliding_window,
                              logits_soft_cap, True, mm_ranges=0 if case.startswith("decode") else mm_ranges,
                              clamp_spans=clamp_spans)
        add("paged_attention", paged_attn_kernel, config, case)
        if plan.splits > 1:
            add("merge_splits", merge_splits_kernel, merge_config(plan.splits, head_size, facts), case)
    return [KernelLaunch(name, kernel, dict(config.constexprs), config.num_warps, config.num_stages, tuple(cases),
                         dict(config.options))
            for name, kernel, config, cases in found.values()]

