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


PROVIDERS: dict[str, type] = {"torch": TorchReferenceProvider}


def select_provider(choice: str | None = None) -> AttentionProvider:
    """The provider named by ``IPEX_PLUGIN_ATTN_PROVIDER`` (``auto`` = best available)."""
    choice = (choice or envs.attn_provider()).lower()
    if choice == "auto":
        choice = "torch"
    if choice not in PROVIDERS:
        raise ValueError(
            f"{envs.ATTN_PROVIDER}={choice!r} is not available; choose one of "
            f"{', '.join(['auto', *sorted(PROVIDERS)])}."
        )
    return PROVIDERS[choice]()
