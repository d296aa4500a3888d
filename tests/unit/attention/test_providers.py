"""Which attention kernels the backend picks, and its errors when a choice cannot run."""

from __future__ import annotations

import pytest
import torch

from vllm_ipex_plugin.attention import providers

XPU_KERNELS_MISSING = not providers.xpu_kernels_installed()


def test_default_provider_per_device():
    assert providers.default_provider("cpu") == "torch"
    assert providers.default_provider("cuda") == "triton"


@pytest.mark.skipif(not XPU_KERNELS_MISSING, reason="vllm-xpu-kernels is installed here")
def test_xpu_without_vllm_xpu_kernels_uses_triton():
    assert providers.default_provider("xpu") == "triton"


@pytest.mark.skipif(not XPU_KERNELS_MISSING, reason="vllm-xpu-kernels is installed here")
def test_asking_for_missing_vllm_xpu_kernels_says_what_to_do():
    with pytest.raises(ValueError, match="needs the optional package vllm-xpu-kernels, which is not installed"):
        providers.select_provider("xpu_kernels", device_type="xpu")


def test_unknown_provider_lists_the_choices():
    with pytest.raises(ValueError, match="choose one of auto, torch, triton, xpu_kernels"):
        providers.select_provider("flashinfer")


def test_select_provider_by_name_and_env(monkeypatch):
    assert providers.select_provider("torch").name == "torch"
    assert providers.select_provider("triton").name == "triton"
    monkeypatch.setenv("IPEX_PLUGIN_ATTN_PROVIDER", "auto")
    assert providers.select_provider(device_type="cpu").name == "torch"


def test_vllm_xpu_kernels_only_take_xpu_tensors():
    """Everything else about the case fits (fp16, head size 64, unit stride); the device does not."""
    query = torch.zeros(4, 2, 64, dtype=torch.float16)
    key_cache = torch.zeros(3, 16, 2, 64, dtype=torch.float16)
    assert not providers.xpu_kernels_support(query, key_cache)


def test_backend_prefers_blocks_of_whole_kv_tiles():
    """vLLM asks the backend when --block-size is not given: 64 positions, the Triton KV tile."""
    from vllm.platforms.interface import Platform

    from vllm_ipex_plugin.attention.backend import IpexAttentionBackend
    from vllm_ipex_plugin.kernels.attention.plan import make_plan

    assert Platform._preferred_block_size_for_backends([IpexAttentionBackend], 16, None) == 64
    assert make_plan(torch.tensor([0, 300], dtype=torch.int32), 1, 300, 8, 2).block_n == 64
