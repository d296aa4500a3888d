"""The ``IPEX_XPU_ATTN`` impl at layer level, through vLLM's own objects: a real ``VllmConfig``
(tiny Llama: 4 query heads, 2 KV heads, head size 32), the backend's metadata builder on a
real ``CommonAttentionMetadata``, and KV cache views made by vLLM's ``create_kv_cache_views``
in its NHD and HND layouts. Earlier steps' keys/values are written with
``do_kv_cache_update``; then one mixed step (decode, a chunk continuing a cached prefix, a
fresh prompt, a decode at a block boundary, and padded tokens with slot -1) is written and
attended, q/k/v being views of one QKV projection output as vLLM passes them.

Compared with dense float64 causal softmax attention per request. Bounds: max abs error
1e-5 for the torch provider (float32 math), 2e-5 for the Triton provider (float32 under
TRITON_INTERPRET=1); the caches start as NaN, so a read of an unwritten slot fails.
"""

from __future__ import annotations

import math

import pytest
import torch

from tests.triton_interpreter import import_interpreted, interpreter_env  # noqa: F401
from tests.unit.kernels.attention.dense import dense_attention

import_interpreted("vllm_ipex_plugin.kernels.attention.launch")  # the Triton provider's kernels, interpreted

from vllm.config import ModelConfig, VllmConfig, set_current_vllm_config  # noqa: E402
from vllm.v1.attention.backend import CommonAttentionMetadata  # noqa: E402
from vllm.v1.kv_cache_interface import FullAttentionSpec, KVCacheTensor, create_kv_cache_views  # noqa: E402
from vllm.v1.kv_cache_layout import KVCacheLayout  # noqa: E402

from vllm_ipex_plugin.attention.backend import IpexAttentionBackend  # noqa: E402
from vllm_ipex_plugin.kernels.attention.batch import KvRead  # noqa: E402
from vllm_ipex_plugin.kernels.attention.plan import paged_config  # noqa: E402

pytestmark = pytest.mark.usefixtures("interpreter_env")

LAYER = "model.layers.0.self_attn.attn"
NUM_BLOCKS = 24
PADDING = 3  # tokens past num_actual_tokens (vLLM pads batches for graphs), slot -1
BOUNDS = {"torch": 1e-5, "triton": 2e-5}


@pytest.fixture(scope="module")
def vllm_config(tiny_llama_path):
    return VllmConfig(model_config=ModelConfig(model=tiny_llama_path, dtype="float32"))


def _kv_cache(spec: FullAttentionSpec, layout: KVCacheLayout) -> torch.Tensor:
    """One layer's ``[num_blocks, kv_heads, block_size, 2 * head_size]`` view, as vLLM's allocator makes it."""
    page = spec.page_size_bytes
    raw = torch.full((NUM_BLOCKS * page // 4,), float("nan")).view(torch.int8)
    tensor = KVCacheTensor(size=NUM_BLOCKS * page, layers=[LAYER], layer_stride=NUM_BLOCKS * page, block_stride=page)
    return create_kv_cache_views(raw, spec, NUM_BLOCKS, layout, tensor)[0]


@pytest.mark.parametrize("provider,kv_load,block_size,layout", [
    ("torch", "", 16, KVCacheLayout.LBNHC),
    ("torch", "", 16, KVCacheLayout.LBHNC),
    ("triton", "", 16, KVCacheLayout.LBNHC),  # tiles span blocks: per-position lookups
    ("triton", "block", 64, KVCacheLayout.LBHNC),  # one lookup per tile, HND strides
    ("triton", "desc", 64, KVCacheLayout.LBNHC),  # descriptors, new tokens from the key/value views
])
@pytest.mark.parametrize("window,soft_cap", [(None, None), (7, None), (None, 20.0)])
def test_mixed_step_matches_dense_attention(vllm_config, monkeypatch, provider, kv_load, block_size, layout,
                                            window, soft_cap):
    monkeypatch.setenv("IPEX_PLUGIN_ATTN_PROVIDER", provider)
    if kv_load:
        monkeypatch.setenv("IPEX_PLUGIN_ATTN_KV_LOAD", kv_load)
    else:
        monkeypatch.delenv("IPEX_PLUGIN_ATTN_KV_LOAD", raising=False)
    model = vllm_config.model_config
    heads = model.get_num_attention_heads(vllm_config.parallel_config)
    kv_heads = model.get_num_kv_heads(vllm_config.parallel_config)
    head = model.get_head_size()
    scale = head**-0.5
    spec = FullAttentionSpec(block_size=block_size, num_kv_heads=kv_heads, head_size=head, dtype=torch.float32)
    builder = IpexAttentionBackend.get_builder_cls()(spec, [LAYER], vllm_config, torch.device("cpu"))
    with set_current_vllm_config(vllm_config):
        impl = IpexAttentionBackend.get_impl_cls()(heads, head, scale, kv_heads, None, window, "auto", soft_cap)
    assert impl.provider.name == builder.provider_name == provider
    kv_cache = _kv_cache(spec, layout)

    gen = torch.Generator().manual_seed(block_size + len(layout.name) + (window or 0))
    requests = [(37, 1), (20, 19), (0, 23), (block_size, 1)]  # (cached, new)
    blocks = torch.randperm(NUM_BLOCKS, generator=gen)
    max_blocks = max(math.ceil((c + n) / block_size) for c, n in requests)
    table = torch.zeros(len(requests), max_blocks, dtype=torch.int32)
    used, starts, keys, values, step_slots = 0, [0], [], [], []
    for i, (cached, new) in enumerate(requests):
        nb = math.ceil((cached + new) / block_size)
        table[i, :nb] = blocks[used : used + nb].to(torch.int32)
        used += nb
        slots = torch.tensor([int(table[i, p // block_size]) * block_size + p % block_size
                              for p in range(cached + new)])
        k, v = (torch.randn(cached + new, kv_heads, head, generator=gen) for _ in range(2))
        if cached:  # an earlier step wrote the cached prefix
            impl.do_kv_cache_update(None, k[:cached], v[:cached], kv_cache, slots[:cached])
        keys.append(k)
        values.append(v)
        step_slots.append(slots[cached:])
        starts.append(starts[-1] + new)
    n = starts[-1]
    # this step's q, k, v: views of one projection output, padded like a vLLM batch
    qkv = torch.randn(n + PADDING, (heads + 2 * kv_heads) * head, generator=gen)
    query, key, value = qkv.split([heads * head, kv_heads * head, kv_heads * head], dim=1)
    for i, (cached, _) in enumerate(requests):
        key[starts[i] : starts[i + 1]] = keys[i][cached:].flatten(1)
        value[starts[i] : starts[i + 1]] = values[i][cached:].flatten(1)
    slot_mapping = torch.cat([*step_slots, torch.full((PADDING,), -1)])
    qsl = torch.tensor(starts, dtype=torch.int32)
    seq_lens = torch.tensor([c + q for c, q in requests], dtype=torch.int32)
    common = CommonAttentionMetadata(
        query_start_loc=qsl, query_start_loc_cpu=qsl, seq_lens=seq_lens, num_reqs=len(requests),
        num_actual_tokens=n, max_query_len=max(q for _, q in requests), max_seq_len=int(seq_lens.max()),
        block_table_tensor=table, slot_mapping=slot_mapping, causal=True,
    )
    metadata = builder.build(0, common)
    assert (metadata.batch.plan is not None) == (provider == "triton")
    if provider == "triton":  # the read the case is meant to take
        key_cache, value_cache = kv_cache.transpose(1, 2).split(head, dim=-1)
        launch = paged_config(metadata.batch.plan, heads, key_cache, value_cache, key[:n].view(n, kv_heads, head),
                              value[:n].view(n, kv_heads, head), window, soft_cap, True).constexprs
        expected_read = {16: KvRead.GATHER, 64: KvRead.DESC if kv_load == "desc" else KvRead.BLOCK}[block_size]
        assert launch["KV_LOAD"] == expected_read
        assert launch["NEW_KV"] == (expected_read == KvRead.DESC and window is None)

    impl.do_kv_cache_update(None, key.view(-1, kv_heads, head), value.view(-1, kv_heads, head), kv_cache,
                            metadata.slot_mapping)
    output = torch.full((n + PADDING, heads * head), float("nan"))
    impl.forward(None, query, key, value, kv_cache, metadata, output)

    assert output[n:].isnan().all(), "padded tokens written"
    got = output[:n].view(n, heads, head)
    assert not got.isnan().any()
    for i, (_, new) in enumerate(requests):
        q = query[starts[i] : starts[i + 1]].reshape(new, heads, head)
        expected = dense_attention(q, keys[i], values[i], scale, window, soft_cap)
        assert (got[starts[i] : starts[i + 1]].double() - expected).abs().max().item() < BOUNDS[provider]
