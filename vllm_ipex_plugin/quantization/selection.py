"""Early, one-line validation of the user's ``ipex_low_bit`` choice (platform hook)."""

from __future__ import annotations


def apply_low_bit_choice(vllm_config) -> None:
    """Resolve the format in the API process so a bad name stops start-up with one line."""
    from vllm_ipex_plugin.quantization.config import IpexLowBitConfig

    quant_config = getattr(vllm_config, "quant_config", None)
    if not isinstance(quant_config, IpexLowBitConfig):
        return
    try:
        quant_config.resolve(vllm_config.additional_config or {})
    except ValueError as exc:
        # vLLM would print the config traceback; the user needs only this line.
        raise SystemExit(f"vllm_ipex_plugin: {exc}") from None
