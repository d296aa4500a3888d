"""Which low-bit format the user chose, pushed into the quantization config."""

from __future__ import annotations


def apply_low_bit_choice(vllm_config) -> None:
    quant_config = getattr(vllm_config, "quant_config", None)
    apply = getattr(quant_config, "apply_user_choice", None)
    if apply is not None:
        apply(vllm_config.additional_config or {})
