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


MM_PREFIX_CAVEAT = (
    "vllm_ipex_plugin: this model attends bidirectionally over its image tokens (Gemma3, PaliGemma); "
    "the plugin's attention backend runs them causally, as vLLM's CPU backend does, so its outputs can "
    "differ from transformers' on image prompts."
)


def backend_caveats(selector_config) -> list[str]:
    """What ``IPEX_XPU_ATTN`` runs differently from the model's reference for a layer with
    ``selector_config`` (vLLM's ``AttentionSelectorConfig``), one warning line each.

    The backend does not refuse such models: vLLM's CPU backend runs them the same way, and
    text prompts are unaffected."""
    caveats = []
    if getattr(selector_config, "use_mm_prefix", False):
        caveats.append(MM_PREFIX_CAVEAT)
    return caveats
