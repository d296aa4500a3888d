"""What the attention backend runs differently from a model's reference is said at selection."""

from __future__ import annotations

import torch

from vllm_ipex_plugin.attention import BACKEND_PATH, MM_PREFIX_CAVEAT, backend_caveats


def _selector(**flags):
    from vllm.v1.attention.selector import AttentionSelectorConfig

    return AttentionSelectorConfig(head_size=64, dtype=torch.float16, kv_cache_dtype="auto", block_size=16, **flags)


def test_image_prefix_attention_is_a_caveat_not_a_refusal():
    from vllm_ipex_plugin.platform.xpu_platform import XpuHostPlatform

    assert backend_caveats(_selector(use_mm_prefix=True)) == [MM_PREFIX_CAVEAT]
    assert "causally" in MM_PREFIX_CAVEAT and "Gemma3" in MM_PREFIX_CAVEAT
    assert backend_caveats(_selector()) == []
    assert XpuHostPlatform.get_attn_backend_cls(None, _selector(use_mm_prefix=True)) == BACKEND_PATH
