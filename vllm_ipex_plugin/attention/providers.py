"""Kernel providers behind the attention backend.

A provider writes new keys/values into the paged cache and computes attention for a
batch. ``torch`` (the reference, any device) exists now; a Triton provider (Intel's
XPU Triton backend, CUDA) and a ``vllm-xpu-kernels`` provider plug in here.
"""

from __future__ import annotations

from typing import Protocol

import torch

from vllm_ipex_plugin import envs
from vllm_ipex_plugin.kernels import attention_reference as ref


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
        batch: ref.PagedBatch,
        scale: float,
        out: torch.Tensor,
        sliding_window: int | None,
        logits_soft_cap: float | None,
    ) -> None: ...


class TorchReferenceProvider:
    """Plain torch: float32 math, one request at a time. Correct everywhere, not fast."""

    name = "torch"

    def write_kv(self, key, value, key_cache, value_cache, slot_mapping) -> None:
        ref.write_kv_cache(key, value, key_cache, value_cache, slot_mapping)

    def attend(
        self, query, key_cache, value_cache, batch, scale, out, sliding_window, logits_soft_cap
    ) -> None:
        ref.paged_attention(
            query, key_cache, value_cache, batch, scale, out, sliding_window, logits_soft_cap
        )


class TritonProvider:
    """The plugin's Triton kernels (Intel's XPU Triton backend, CUDA). Not for host mode:
    Triton has no CPU backend here (the kernels are checked there with TRITON_INTERPRET)."""

    name = "triton"

    def write_kv(self, key, value, key_cache, value_cache, slot_mapping) -> None:
        from vllm_ipex_plugin.kernels import attention_triton

        attention_triton.write_kv_cache(key, value, key_cache, value_cache, slot_mapping)

    def attend(
        self, query, key_cache, value_cache, batch, scale, out, sliding_window, logits_soft_cap
    ) -> None:
        from vllm_ipex_plugin.kernels import attention_triton

        attention_triton.paged_attention(
            query, key_cache, value_cache, batch.query_start_loc, batch.seq_lens, batch.block_table,
            batch.num_reqs, batch.max_query_len, scale, out, sliding_window, logits_soft_cap,
            causal=batch.causal, plan=batch.plan,
        )


PROVIDERS: dict[str, type] = {"torch": TorchReferenceProvider, "triton": TritonProvider}


def default_provider(device_type: str) -> str:
    """Triton where it compiles for the device (XPU, CUDA); the torch reference elsewhere."""
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
    return PROVIDERS[choice]()
