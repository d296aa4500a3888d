"""The plugin's paged attention backend, registered in vLLM's backend registry.

- ``backend``: ``IPEX_XPU_ATTN`` (backend, metadata builder, impl) over vLLM's KV cache.
- ``providers``: which kernels run it (torch reference, the plugin's Triton kernels,
  ``vllm-xpu-kernels``) and the errors when a choice cannot run.

May import vLLM, ``vllm_ipex_plugin.envs`` / ``log`` and ``vllm_ipex_plugin.kernels``; never
the platform, worker, quantization or distributed layers. This module imports vLLM only
inside ``register_attention_backend`` (the platform imports it early).
"""

from __future__ import annotations

BACKEND_NAME = "IPEX_XPU_ATTN"
BACKEND_PATH = "vllm_ipex_plugin.attention.backend.IpexAttentionBackend"


def register_attention_backend() -> None:
    """Add ``IPEX_XPU_ATTN`` to vLLM's ``AttentionBackendEnum`` (per process, idempotent)."""
    from vllm.v1.attention.backends.registry import AttentionBackendEnum, register_backend

    if BACKEND_NAME in AttentionBackendEnum.__members__:
        return
    register_backend(BACKEND_NAME, BACKEND_PATH)
