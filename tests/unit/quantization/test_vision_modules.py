"""Vision towers and projectors are told from language-model layers by vLLM's layer names."""

from __future__ import annotations

import pytest

from vllm_ipex_plugin.quantization.vision_modules import is_vision_module


@pytest.mark.parametrize("prefix", [
    "visual.blocks.0.attn.qkv", "visual.merger.mlp.0",  # Qwen2-VL
    "vision_tower.vision_model.encoder.layers.0.self_attn.qkv_proj", "multi_modal_projector.linear_1",  # LLaVA
    "model.vision_model.encoder.layers.1.mlp.fc1", "model.connector.modality_projection.proj",  # Idefics3
    "vpm.encoder.layers.0.mlp.fc2", "resampler.kv_proj",  # MiniCPM-V
    "mlp1.1",  # InternVL
    "embed_vision.embedding_projection", "vision_tower.encoder.layers.0.self_attn.q_proj.linear",  # Gemma4
])
def test_vision_layers(prefix):
    assert is_vision_module(prefix)


@pytest.mark.parametrize("prefix", [
    "model.layers.0.self_attn.qkv_proj", "language_model.model.layers.1.mlp.gate_up_proj",
    "model.language_model.layers.0.mlp.down_proj", "lm_head", "model.layers.3.mlp.experts.w13",
])
def test_language_model_layers(prefix):
    assert not is_vision_module(prefix)
