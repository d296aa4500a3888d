"""Sleep-mode memory pools: not available on the plugin's platform yet."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext


class NoSleepModePools:
    """vLLM's GPU worker asks for a sleep-mode allocator on any platform it does not
    recognise as CUDA, XPU or CPU; the plugin's platform has none, so every pool
    context is a no-op (weights, KV cache and workspace use the default allocator)."""

    def _maybe_get_memory_pool_context(self, tag: str) -> AbstractContextManager:
        return nullcontext()
