"""Kernel providers behind the attention backend.

A provider writes new keys/values into the paged cache and computes attention for a
batch: ``torch`` (the reference, any device), ``triton`` (the plugin's Triton kernels:
Intel's XPU Triton backend, CUDA) and ``xpu_kernels`` (``vllm-xpu-kernels``' flash
attention, the kernels stock vLLM uses on XPU, when that optional package is installed;
cases it does not cover go to the Triton kernels).
"""

from __future__ import annotations

from typing import Protocol

import torch

from vllm_ipex_plugin import envs
from vllm_ipex_plugin.kernels.attention import reference as ref
from vllm_ipex_plugin.kernels.attention.batch import PagedBatch
from vllm_ipex_plugin.kernels.common.optional import xpu_kernels_installed

__all__ = ["PROVIDERS", "AttentionProvider", "default_provider", "select_provider", "xpu_kernels_installed",
           "xpu_kernels_support"]


class AttentionProvider(Protocol):
    name: str

    def write_kv(
        self,
        key: torch.Tensor,
        value: torch.Tensor,
        key_cache: torch.Tensor,
        value_cache: torch.Tensor,
        slot_mapping: torch.Tensor,
    ) -> None: ...

    def attend(
        self,
        query: torch.Tensor,
        key_cache: torch.Tensor,
        value_cache: torch.Tensor,
        batch: PagedBatch,
        scale: float,
        out: torch.Tensor,
        sliding_window: int | None,
        logits_soft_cap: float | None,
        new_kv: tuple[torch.Tensor, torch.Tensor] | None = None,
        clamp_spans: bool = False,
    ) -> None:
        """``new_kv``: the step's keys and values (``[tokens, kv_heads, head_size]``), already
        in the cache; a provider may read the new tokens from them instead (or ignore them).
        ``clamp_spans``: the batch's bidirectional spans stay inside ``sliding_window`` too (a
        query sees a span key only within its window: Gemma4's sliding layers)."""


class TorchReferenceProvider:
    """Plain torch: float32 math, one request at a time. Correct everywhere, not fast."""

    name = "torch"

    def write_kv(self, key, value, key_cache, value_cache, slot_mapping) -> None:
        ref.write_kv_cache(key, value, key_cache, value_cache, slot_mapping)

    def attend(
        self, query, key_cache, value_cache, batch, scale, out, sliding_window, logits_soft_cap, new_kv=None,
        clamp_spans=False,
    ) -> None:
        ref.paged_attention(
            query, key_cache, value_cache, batch, scale, out, sliding_window, logits_soft_cap, clamp_spans
        )


class TritonProvider:
    """The plugin's Triton kernels (Intel's XPU Triton backend, CUDA). Not for host mode:
    Triton has no CPU backend here (the kernels are checked there with TRITON_INTERPRET)."""

    name = "triton"

    def write_kv(self, key, value, key_cache, value_cache, slot_mapping) -> None:
        from vllm_ipex_plugin.kernels.attention import launch

        launch.write_kv_cache(key, value, key_cache, value_cache, slot_mapping)

    def attend(
        self, query, key_cache, value_cache, batch, scale, out, sliding_window, logits_soft_cap, new_kv=None,
        clamp_spans=False,
    ) -> None:
        from vllm_ipex_plugin.kernels.attention import launch

        key, value = new_kv or (None, None)
        launch.paged_attention(
            query, key_cache, value_cache, batch.query_start_loc, batch.seq_lens, batch.block_table,
            batch.num_reqs, batch.max_query_len, scale, out, sliding_window, logits_soft_cap,
            causal=batch.causal, plan=batch.plan, key=key, value=value, mm_ranges=batch.mm_ranges,
            clamp_spans=clamp_spans,
        )


def xpu_kernels_support(query: torch.Tensor, key_cache: torch.Tensor) -> bool:
    """The cases ``vllm-xpu-kernels``' varlen flash attention takes (as vLLM's own XPU
    FlashAttention path uses it): an XPU device, fp16/bf16, head size a multiple of 8 up to
    256, unit stride on the head dimension (the packed K|V views vLLM hands backends)."""
    head_size = query.shape[-1]
    return (
        query.device.type == "xpu"
        and query.dtype in (torch.float16, torch.bfloat16)
        and key_cache.dtype == query.dtype
        and head_size % 8 == 0
        and head_size <= 256
        and key_cache.stride(-1) == 1
    )


class XpuKernelsProvider(TritonProvider):
    """``vllm_xpu_kernels.flash_attn_interface.flash_attn_varlen_func`` over the paged cache;
    the KV write and any case it does not support (bidirectional spans among them) use the
    Triton kernels."""

    name = "xpu_kernels"

    def __init__(self) -> None:
        from vllm_xpu_kernels.flash_attn_interface import flash_attn_varlen_func

        self._flash = flash_attn_varlen_func

    def attend(
        self, query, key_cache, value_cache, batch, scale, out, sliding_window, logits_soft_cap, new_kv=None,
        clamp_spans=False,
    ) -> None:
        if batch.mm_ranges is not None or not xpu_kernels_support(query, key_cache):
            return super().attend(
                query, key_cache, value_cache, batch, scale, out, sliding_window, logits_soft_cap, new_kv,
                clamp_spans,
            )
        self._flash(
            q=query,
            k=key_cache,
            v=value_cache,
            out=out,
            cu_seqlens_q=batch.query_start_loc,
            max_seqlen_q=batch.max_query_len,
            seqused_k=batch.seq_lens,
            max_seqlen_k=batch.max_seq_len,
            softmax_scale=scale,
            causal=batch.causal,
            block_table=batch.block_table,
            window_size=(sliding_window - 1, 0) if sliding_window else (-1, -1),
            softcap=logits_soft_cap or 0.0,
        )


PROVIDERS: dict[str, type] = {
    "torch": TorchReferenceProvider,
    "triton": TritonProvider,
    "xpu_kernels": XpuKernelsProvider,
}


def default_provider(device_type: str) -> str:
    """On XPU: ``vllm-xpu-kernels`` when installed, else Triton; Triton on CUDA; the torch
    reference elsewhere (and wherever Triton is missing)."""
    if device_type == "xpu" and xpu_kernels_installed():
        return "xpu_kernels"
    if device_type in ("xpu", "cuda"):
        try:
            import triton  # noqa: F401
        except ImportError:
            return "torch"
        return "triton"
    return "torch"


def select_provider(choice: str | None = None, device_type: str = "cpu") -> AttentionProvider:
    """The provider named by ``IPEX_PLUGIN_ATTN_PROVIDER`` (``auto`` = best available)."""
    choice = (choice or envs.attn_provider()).lower()
    if choice == "auto":
        choice = default_provider(device_type)
    if choice not in PROVIDERS:
        raise ValueError(
            f"{envs.ATTN_PROVIDER}={choice!r} is not available; choose one of "
            f"{', '.join(['auto', *sorted(PROVIDERS)])}."
        )
    if choice == "xpu_kernels" and not xpu_kernels_installed():
        raise ValueError(
            f"{envs.ATTN_PROVIDER}=xpu_kernels needs the optional package vllm-xpu-kernels, which is not "
            "installed; install it (Intel GPUs only) or use auto, triton or torch."
        )
    return PROVIDERS[choice]()
