"""The plugin's paged attention backend, registered in vLLM's backend registry."""

from __future__ import annotations

BACKEND_NAME = "IPEX_XPU_ATTN"
BACKEND_PATH = "vllm_ipex_plugin.attention.backend.IpexAttentionBackend"


def register_attention_backend() -> None:
    """Add ``IPEX_XPU_ATTN`` to vLLM's ``AttentionBackendEnum`` (per process, idempotent)."""
    from vllm.v1.attention.backends.registry import AttentionBackendEnum, register_backend

    if BACKEND_NAME in AttentionBackendEnum.__members__:
        return
    register_backend(BACKEND_NAME, BACKEND_PATH)
