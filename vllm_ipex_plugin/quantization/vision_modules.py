"""Which linear layers belong to a vision tower or its projector (kept in 16 bits by default).

IPEX-LLM leaves vision encoders unquantized: they are a small share of a vision-language
model's weights, run once per image rather than once per token, and lose more accuracy to 4
bits than the language model does. vLLM gives a quantization method only the layer's dotted
prefix, so the rule is by name: a prefix with one of ``VISION_MODULES`` as a component (the
names vLLM's multimodal models give their towers and connectors).
"""

from __future__ import annotations

VISION_MODULES = frozenset({
    "visual",  # Qwen2-VL / Qwen2.5-VL / Qwen3-VL, GLM-4V
    "vision_tower", "multi_modal_projector",  # LLaVA family, PaliGemma, Gemma3, Mistral3
    "embed_vision",  # Gemma4 / Gemma3n's projector into the language model
    "vision_model", "connector",  # Idefics3 / SmolVLM, InternVL's tower
    "mlp1",  # InternVL's projector
    "vpm", "resampler",  # MiniCPM-V
    "mm_projector", "vision_encoder", "img_projection", "image_encoder",
})


def is_vision_module(prefix: str) -> bool:
    """True for a layer of a vision tower or projector (``prefix``: vLLM's dotted layer name)."""
    return any(part in VISION_MODULES for part in prefix.split("."))
