"""Tiny random models built by the tests (cached), so nothing comes from a model hub.

They reuse the demo model's tokenizer (SmolLM2's byte-level BPE), so no tokenizer has to be
trained; their weights are drawn with a larger spread than the usual initialiser so greedy
decoding has clear winners (no near-ties that float rounding could flip).
"""

from __future__ import annotations

from pathlib import Path

import torch

from vllm_ipex_plugin.demo_model import build_demo_model, cache_root

TINY_SEED = 1234


def _tiny_config(arch: str, **overrides):
    from transformers import Glm4Config, LlamaConfig, Qwen2Config

    common = dict(
        vocab_size=49152,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=1,
        eos_token_id=2,
        initializer_range=0.08,
    )
    common.update(overrides)
    if arch == "llama":
        return LlamaConfig(**common, tie_word_embeddings=False)
    if arch == "qwen2":
        return Qwen2Config(**common, tie_word_embeddings=False, use_sliding_window=False)
    if arch == "glm4":  # GLM-4 / CodeGeeX4 (the -hf checkpoints): partial rotary, post-norms
        return Glm4Config(**common, tie_word_embeddings=False, head_dim=32, partial_rotary_factor=0.5,
                          pad_token_id=0)
    raise ValueError(f"unknown tiny architecture {arch!r}")


def build_tiny_model(arch: str, dest: Path | None = None, **overrides) -> Path:
    """A 2-layer random ``llama``, ``qwen2`` or ``glm4`` model in float32, cached by name."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dest = Path(dest) if dest else cache_root() / f"tiny-{arch}"
    if (dest / "config.json").exists():
        return dest
    torch.manual_seed(TINY_SEED)
    config = _tiny_config(arch, **overrides)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.normal_(0.0, 0.05)
    tmp = dest.with_name(dest.name + ".tmp")
    model.save_pretrained(tmp)
    AutoTokenizer.from_pretrained(build_demo_model()).save_pretrained(tmp)
    tmp.rename(dest)
    return dest


def _chatglm_weights(config: dict) -> dict[str, torch.Tensor]:
    """ChatGLM3's checkpoint layout (``transformer.encoder.layers.N...``), random values."""
    h, f, v = config["hidden_size"], config["ffn_hidden_size"], config["padded_vocab_size"]
    heads, groups, kv = config["num_attention_heads"], config["multi_query_group_num"], config["kv_channels"]
    gen = torch.Generator().manual_seed(TINY_SEED)

    def rand(*shape, std=0.08):
        return torch.randn(*shape, generator=gen) * std

    weights = {"transformer.embedding.word_embeddings.weight": rand(v, h),
               "transformer.encoder.final_layernorm.weight": 1 + rand(h, std=0.05),
               "transformer.output_layer.weight": rand(v, h)}
    qkv = (heads + 2 * groups) * kv
    for i in range(config["num_layers"]):
        p = f"transformer.encoder.layers.{i}."
        weights.update({
            p + "input_layernorm.weight": 1 + rand(h, std=0.05),
            p + "self_attention.query_key_value.weight": rand(qkv, h),
            p + "self_attention.query_key_value.bias": rand(qkv, std=0.05),
            p + "self_attention.dense.weight": rand(h, heads * kv),
            p + "post_attention_layernorm.weight": 1 + rand(h, std=0.05),
            p + "mlp.dense_h_to_4h.weight": rand(2 * f, h),
            p + "mlp.dense_4h_to_h.weight": rand(h, f),
        })
    return weights


def build_tiny_chatglm(dest: Path | None = None) -> Path:
    """A 2-layer random ChatGLM3-architecture model (``ChatGLMModel``; vLLM ships its config, so
    no remote code), float32, with the demo tokenizer; cached. transformers has no ChatGLM
    without remote code: its reference is vLLM's own CPU platform."""
    import json

    from safetensors.torch import save_file
    from transformers import AutoTokenizer

    dest = Path(dest) if dest else cache_root() / "tiny-chatglm3"
    if (dest / "config.json").exists():
        return dest
    config = {"architectures": ["ChatGLMModel"], "model_type": "chatglm", "num_layers": 2,
              "padded_vocab_size": 49152, "hidden_size": 128, "ffn_hidden_size": 256, "kv_channels": 32,
              "num_attention_heads": 4, "multi_query_attention": True, "multi_query_group_num": 2,
              "seq_length": 1024, "layernorm_epsilon": 1e-5, "rmsnorm": True, "post_layer_norm": True,
              "apply_residual_connection_post_layernorm": False, "add_bias_linear": False, "add_qkv_bias": True,
              "original_rope": True, "tie_word_embeddings": False, "torch_dtype": "float32",
              "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "config.json").write_text(json.dumps(config, indent=1))
    save_file(_chatglm_weights(config), str(tmp / "model.safetensors"), metadata={"format": "pt"})
    AutoTokenizer.from_pretrained(build_demo_model()).save_pretrained(tmp)
    tmp.rename(dest)
    return dest
