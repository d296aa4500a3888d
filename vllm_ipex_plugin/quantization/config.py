"""``ipex_low_bit``: IPEX-LLM's low-bit weight formats as a vLLM quantization method.

Choosing the format (first match wins):

1. a pre-quantized checkpoint's ``quantization_config.low_bit`` (fixed by its tensors);
2. ``additional_config={"low_bit": ...}`` (``LLM(...)`` or ``--additional-config``);
3. ``--load-in-low-bit`` / ``IPEX_PLUGIN_LOW_BIT``;
4. ``--hf-overrides '{"quantization_config": {"quant_method": "ipex_low_bit", "low_bit": ...}}'``;
5. ``fp8`` (= fp8_e5m2), IPEX-LLM's documented default.

``additional_config={"low_bit_lm_head": true}`` also quantizes an untied lm_head
(left in 16 bits by default: it costs a lot of accuracy on small models), and
``{"low_bit_vision": true}`` a vision-language model's vision tower and projector
(``vision_modules``; left in 16 bits by default, as IPEX-LLM does).
"""

from __future__ import annotations

from typing import Any

import torch
from vllm.model_executor.layers.linear import LinearBase
from vllm.model_executor.layers.quantization import register_quantization_config
from vllm.model_executor.layers.quantization.base_config import QuantizationConfig

from vllm_ipex_plugin import envs
from vllm_ipex_plugin.log import get_logger
from vllm_ipex_plugin.quantization.formats import DEFAULT_FORMAT, canonical_name
from vllm_ipex_plugin.quantization.vision_modules import is_vision_module

logger = get_logger(__name__)

QUANT_METHOD = "ipex_low_bit"
CHECKPOINT_FORMAT_VERSION = 1


def _additional_config() -> dict:
    from vllm.config import get_current_vllm_config_or_none

    cfg = get_current_vllm_config_or_none()
    extra = getattr(cfg, "additional_config", None) if cfg is not None else None
    return extra if isinstance(extra, dict) else {}


def _tied_embeddings() -> bool:
    from vllm.config import get_current_vllm_config_or_none

    cfg = get_current_vllm_config_or_none()
    hf_config = getattr(getattr(cfg, "model_config", None), "hf_config", None)
    return bool(getattr(hf_config, "tie_word_embeddings", False))


@register_quantization_config(QUANT_METHOD)
class IpexLowBitConfig(QuantizationConfig):
    def __init__(
        self,
        low_bit: str | None = None,
        prequantized: bool = False,
        modules_to_not_convert: list[str] | None = None,
        public_spec=None,
    ) -> None:
        super().__init__()
        self.public_spec = public_spec  # AWQ / GPTQ checkpoint (awq_gptq.PublicQuantSpec)
        self.checkpoint_low_bit = canonical_name(low_bit) if low_bit else None
        self.prequantized = prequantized
        self.modules_to_not_convert = list(modules_to_not_convert or [])
        self._low_bit: str | None = None
        self._quantize_lm_head = False

    # ----- vLLM interface ------------------------------------------------------------------
    def get_name(self) -> str:
        return QUANT_METHOD

    def get_supported_act_dtypes(self) -> list[torch.dtype]:
        return [torch.float16, torch.bfloat16, torch.float32]

    @classmethod
    def get_min_capability(cls) -> int:
        return 0

    @staticmethod
    def get_config_filenames() -> list[str]:
        return []

    @classmethod
    def override_quantization_method(cls, hf_quant_cfg, user_quant, hf_config=None) -> str | None:
        """Take AWQ/GPTQ checkpoints for ``--quantization ipex_low_bit``, and for IPEX-LLM's
        ``--quantization awq|gptq`` (or none) while the plugin's platform is active."""
        method = str(hf_quant_cfg.get("quant_method", "")).lower()
        if method not in ("awq", "gptq"):
            return None
        if user_quant == QUANT_METHOD:
            return QUANT_METHOD
        from vllm.platforms import current_platform

        ours = type(current_platform).__module__.startswith("vllm_ipex_plugin.")
        if ours and user_quant in (None, "awq", "gptq"):
            return QUANT_METHOD
        return None

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> IpexLowBitConfig:
        if str(config.get("quant_method", "")).lower() in ("awq", "gptq"):
            from vllm_ipex_plugin.quantization.awq_gptq import parse_public_config

            spec = parse_public_config(config)
            return cls(spec.target_format, prequantized=True, public_spec=spec,
                       modules_to_not_convert=config.get("modules_to_not_convert"))
        prequantized = bool(config.get("prequantized", False))
        low_bit = config.get("low_bit")
        if prequantized and not low_bit:
            raise ValueError("ipex_low_bit checkpoint: quantization_config has no 'low_bit'.")
        version = config.get("format_version", CHECKPOINT_FORMAT_VERSION)
        if prequantized and version != CHECKPOINT_FORMAT_VERSION:
            raise ValueError(
                f"ipex_low_bit checkpoint format_version {version} is not supported by this "
                f"plugin (it reads version {CHECKPOINT_FORMAT_VERSION}); re-quantize the model."
            )
        return cls(low_bit, prequantized, config.get("modules_to_not_convert"))

    def get_checkpoint_weight_mapper(self):
        """Keep GPTQ ``g_idx`` tensors: act-order is honoured here (vLLM's default mapper drops them)."""
        from vllm.model_executor.models.utils import WeightsMapper

        return WeightsMapper()

    def get_quant_method(self, layer: torch.nn.Module, prefix: str):
        from vllm.model_executor.layers.vocab_parallel_embedding import ParallelLMHead

        from vllm_ipex_plugin.quantization.ipex_low_bit import IpexLowBitLinearMethod

        if self.public_spec is not None:
            if isinstance(layer, LinearBase) and not isinstance(layer, ParallelLMHead):
                from vllm_ipex_plugin.quantization.awq_gptq import AwqGptqLinearMethod

                if any(skip and skip in prefix for skip in self.modules_to_not_convert):
                    from vllm.model_executor.layers.linear import UnquantizedLinearMethod

                    return UnquantizedLinearMethod()
                return AwqGptqLinearMethod(self.public_spec, prefix)
            return None
        if isinstance(layer, ParallelLMHead):
            if self.resolve()[1] and not self.prequantized:
                if _tied_embeddings():
                    logger.warning_once(
                        "vllm_ipex_plugin: low_bit_lm_head ignored: this model ties lm_head to its embeddings"
                    )
                    return None
                return IpexLowBitLinearMethod(self, prefix)
            return None
        if isinstance(layer, LinearBase):
            skipped = any(skip and skip in prefix for skip in self.modules_to_not_convert)
            if skipped or self._vision_stays_16_bit(prefix):
                from vllm.model_executor.layers.linear import UnquantizedLinearMethod

                return UnquantizedLinearMethod()
            return IpexLowBitLinearMethod(self, prefix)
        return None

    def _vision_stays_16_bit(self, prefix: str) -> bool:
        """A vision tower / projector layer quantized on load stays in 16 bits unless
        ``low_bit_vision`` is set (a pre-quantized checkpoint's tensors decide for themselves)."""
        if self.prequantized or not is_vision_module(prefix) or _additional_config().get("low_bit_vision", False):
            return False
        logger.info_once("vllm_ipex_plugin: vision tower and projector stay in 16 bits "
                         "(additional_config low_bit_vision: true quantizes them)")
        return True

    # ----- format choice -------------------------------------------------------------------
    def resolve(self, additional_config: dict | None = None) -> tuple[str, bool]:
        """(format, quantize lm_head), decided once per process and logged once."""
        if self._low_bit is not None:
            return self._low_bit, self._quantize_lm_head
        extra = _additional_config() if additional_config is None else additional_config
        requested = extra.get("low_bit") or envs.low_bit()
        if self.prequantized:
            assert self.checkpoint_low_bit is not None
            if self.public_spec is not None:
                if requested and canonical_name(requested) != self.checkpoint_low_bit:
                    logger.warning_once(
                        "vllm_ipex_plugin: this %s checkpoint runs as %s; ignoring low_bit=%s",
                        self.public_spec.source.upper(), self.checkpoint_low_bit, requested,
                    )
            elif requested and canonical_name(requested) != self.checkpoint_low_bit:
                raise ValueError(
                    f"This checkpoint is pre-quantized as {self.checkpoint_low_bit}; it cannot be "
                    f"served as {requested}. Drop --load-in-low-bit / low_bit, or quantize the "
                    "original model again."
                )
            fmt = self.checkpoint_low_bit
        else:
            fmt = canonical_name(requested or self.checkpoint_low_bit or DEFAULT_FORMAT)
        self._quantize_lm_head = bool(extra.get("low_bit_lm_head", False))
        self._low_bit = fmt
        logger.info_once(
            "vllm_ipex_plugin: ipex_low_bit weights in %s (%s%s)",
            fmt,
            (f"{self.public_spec.source.upper()} checkpoint" if self.public_spec is not None
             else "pre-quantized checkpoint" if self.prequantized else "quantized on load"),
            ", lm_head too" if self._quantize_lm_head else "",
        )
        return fmt, self._quantize_lm_head

    @property
    def low_bit(self) -> str:
        return self.resolve()[0]
