"""Multimodal prefix LMs (Gemma3, PaliGemma, Gemma4) select the plugin's backend, which declares the
bidirectional image spans vLLM checks backends for (``supports_mm_prefix``) and drops them on the
layers whose model clears them."""

from __future__ import annotations

import pytest
import torch

from vllm_ipex_plugin.attention import BACKEND_PATH


def test_mm_prefix_layers_select_the_plugin_backend_which_supports_them():
    from vllm.v1.attention.selector import AttentionSelectorConfig

    from vllm_ipex_plugin.attention.backend import IpexAttentionBackend
    from vllm_ipex_plugin.platform.xpu_platform import XpuHostPlatform

    config = AttentionSelectorConfig(head_size=64, dtype=torch.float16, kv_cache_dtype="auto", block_size=16,
                                     use_mm_prefix=True)
    assert XpuHostPlatform.get_attn_backend_cls(None, config) == BACKEND_PATH
    assert IpexAttentionBackend.supports_mm_prefix()


def test_host_mode_runs_the_plugin_backend_where_vllm_picks_triton_attn():
    """Gemma4's config picks vLLM's TRITON_ATTN for its mixed head sizes; it cannot run on the CPU,
    so host mode takes the plugin's backend; any other unavailable backend is refused in one line."""
    from vllm.v1.attention.backends.registry import AttentionBackendEnum
    from vllm.v1.attention.selector import AttentionSelectorConfig

    from vllm_ipex_plugin.platform.xpu_platform import XpuHostPlatform

    config = AttentionSelectorConfig(head_size=64, dtype=torch.float32, kv_cache_dtype="auto", block_size=16)
    assert XpuHostPlatform.get_attn_backend_cls(AttentionBackendEnum.TRITON_ATTN, config) == BACKEND_PATH
    with pytest.raises(ValueError, match="attention backend FLASHINFER is not available on cpu; use IPEX_XPU_ATTN"):
        XpuHostPlatform.get_attn_backend_cls(AttentionBackendEnum.FLASHINFER, config)


def test_spans_cleared_by_the_model_are_dropped_for_that_layer_group():
    """Gemma4 sets ``mm_prefix_range = None`` on its full-attention layers' metadata: those layers
    get the step's batch without spans; the others keep them."""
    from vllm_ipex_plugin.attention.backend import IpexAttentionMetadata
    from vllm_ipex_plugin.kernels.attention.batch import PagedBatch

    spans = torch.tensor([[[2, 9]]], dtype=torch.int32)
    batch = PagedBatch(query_start_loc=torch.tensor([0, 12], dtype=torch.int32),
                       seq_lens=torch.tensor([12], dtype=torch.int32), block_table=torch.zeros(1, 1, dtype=torch.int32),
                       num_reqs=1, causal=True, max_query_len=12, max_seq_len=12, mm_ranges=spans)
    metadata = IpexAttentionMetadata(12, 12, 12, torch.arange(12), batch, mm_prefix_range=spans)
    assert metadata.batch_for_layer() is batch
    metadata.mm_prefix_range = None  # what Gemma4ForConditionalGeneration._clear_mm_prefix_for_full_attn_layers does
    cleared = metadata.batch_for_layer()
    assert cleared.mm_ranges is None and cleared.query_start_loc is batch.query_start_loc
