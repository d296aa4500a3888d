"""Multimodal prefix LMs (Gemma3, PaliGemma) select the plugin's backend, which declares the
bidirectional image spans vLLM checks backends for (``supports_mm_prefix``)."""

from __future__ import annotations

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
