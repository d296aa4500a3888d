"""The ``ipex_low_bit`` weight quantization method."""

from __future__ import annotations


def register_quantization() -> None:
    """Register ``ipex_low_bit`` with vLLM (importing the config module registers it)."""
    from vllm_ipex_plugin.quantization import config  # noqa: F401
