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
# Config modules the remote-code checkpoints carry (copied into each checkpoint folder).
REMOTE_CODE = Path(__file__).parent / "remote_code"


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


def _rand(gen: torch.Generator):
    def rand(*shape, std=0.08):
        return torch.randn(*shape, generator=gen) * std

    return rand


def _save_tiny_checkpoint(dest: Path, config: dict, weights: dict[str, torch.Tensor],
                          remote_code: tuple[str, ...] = ()) -> Path:
    """``config.json``, ``model.safetensors``, the demo tokenizer and the config modules
    ``remote_code`` (file names under ``tests/harness/remote_code/``) in ``dest``, written to a
    ``.tmp`` folder first so a half-written checkpoint is never cached."""
    import json
    import shutil

    from safetensors.torch import save_file
    from transformers import AutoTokenizer

    tmp = dest.with_name(dest.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    (tmp / "config.json").write_text(json.dumps(config, indent=1))
    save_file(weights, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    AutoTokenizer.from_pretrained(build_demo_model()).save_pretrained(tmp)
    for name in remote_code:
        shutil.copyfile(REMOTE_CODE / name, tmp / name)
    tmp.rename(dest)
    return dest


def _chatglm_weights(config: dict) -> dict[str, torch.Tensor]:
    """ChatGLM3's checkpoint layout (``transformer.encoder.layers.N...``), random values."""
    h, f, v = config["hidden_size"], config["ffn_hidden_size"], config["padded_vocab_size"]
    heads, groups, kv = config["num_attention_heads"], config["multi_query_group_num"], config["kv_channels"]
    rand = _rand(torch.Generator().manual_seed(TINY_SEED))

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
    return _save_tiny_checkpoint(dest, config, _chatglm_weights(config))


def _telechat2_weights(config: dict) -> dict[str, torch.Tensor]:
    """TeleChat2's checkpoint layout (``transformer.h.N.self_attention.query`` / ``key_value``
    with k and v interleaved per head, biases on ``dense`` and ``down_proj`` only), random."""
    h, f, v = config["hidden_size"], config["ffn_hidden_size"], config["vocab_size"]
    rand = _rand(torch.Generator().manual_seed(TINY_SEED))

    weights = {"transformer.word_embeddings.weight": rand(v, h),
               "transformer.ln_f.weight": 1 + rand(h, std=0.05),
               "lm_head.weight": rand(v, h)}
    for i in range(config["n_layer"]):
        p = f"transformer.h.{i}."
        weights.update({
            p + "input_layernorm.weight": 1 + rand(h, std=0.05),
            p + "self_attention.query.weight": rand(h, h),
            # [k of head 0, v of head 0, k of head 1, ...], each head_dim rows
            p + "self_attention.key_value.weight": rand(2 * h, h),
            p + "self_attention.dense.weight": rand(h, h),
            p + "self_attention.dense.bias": rand(h, std=0.05),
            p + "post_attention_layernorm.weight": 1 + rand(h, std=0.05),
            p + "mlp.gate_proj.weight": rand(f, h),
            p + "mlp.up_proj.weight": rand(f, h),
            p + "mlp.down_proj.weight": rand(h, f),
            p + "mlp.down_proj.bias": rand(h, std=0.05),
        })
    return weights


def build_tiny_telechat2(dest: Path | None = None) -> Path:
    """A 2-layer random TeleChat2 model (vLLM's ``TeleChat2ForCausalLM``), float32, with the
    demo tokenizer; cached. Its config class is remote code the checkpoint carries
    (``remote_code/configuration_telechat2.py``): load it with ``trust_remote_code=True``.
    transformers has no TeleChat without remote code: its reference is vLLM's own CPU platform."""
    dest = Path(dest) if dest else cache_root() / "tiny-telechat2"
    if (dest / "config.json").exists():
        return dest
    config = {"architectures": ["TeleChat2ForCausalLM"], "model_type": "telechat",
              "auto_map": {"AutoConfig": "configuration_telechat2.Telechat2Config"},
              "vocab_size": 49152, "hidden_size": 128, "n_layer": 2, "n_head": 4, "ffn_hidden_size": 256,
              "layer_norm_epsilon": 1e-5, "seq_length": 1024, "training_seqlen": 1024, "logn": True,
              "embed_layernorm": False, "apply_residual_connection_post_layernorm": False,
              "tie_word_embeddings": False, "torch_dtype": "float32",
              "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
    return _save_tiny_checkpoint(dest, config, _telechat2_weights(config), ("configuration_telechat2.py",))


def _baichuan_weights(config: dict) -> dict[str, torch.Tensor]:
    """Baichuan2's checkpoint layout (Llama's names, q/k/v fused in ``self_attn.W_pack``,
    ``lm_head`` rows unnormalised: Baichuan2's NormHead normalises them when it runs), random."""
    h, f, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    rand = _rand(torch.Generator().manual_seed(TINY_SEED))

    weights = {"model.embed_tokens.weight": rand(v, h), "model.norm.weight": 1 + rand(h, std=0.05),
               "lm_head.weight": rand(v, h)}
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        weights.update({
            p + "input_layernorm.weight": 1 + rand(h, std=0.05),
            p + "self_attn.W_pack.weight": rand(3 * h, h),
            p + "self_attn.o_proj.weight": rand(h, h),
            p + "post_attention_layernorm.weight": 1 + rand(h, std=0.05),
            p + "mlp.gate_proj.weight": rand(f, h),
            p + "mlp.up_proj.weight": rand(f, h),
            p + "mlp.down_proj.weight": rand(h, f),
        })
    return weights


def build_tiny_baichuan2(dest: Path | None = None) -> Path:
    """A 2-layer random Baichuan2-7B-layout model (``BaichuanForCausalLM``, rotary), float32,
    with the demo tokenizer; cached. Its config class is remote code the checkpoint carries
    (``remote_code/configuration_baichuan.py``): load it with ``trust_remote_code=True``."""
    dest = Path(dest) if dest else cache_root() / "tiny-baichuan2"
    if (dest / "config.json").exists():
        return dest
    config = {"architectures": ["BaichuanForCausalLM"], "model_type": "baichuan",
              "auto_map": {"AutoConfig": "configuration_baichuan.BaichuanConfig"},
              "vocab_size": 49152, "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
              "num_attention_heads": 4, "hidden_act": "silu", "max_position_embeddings": 1024,
              "rms_norm_eps": 1e-6, "tie_word_embeddings": False, "torch_dtype": "float32",
              "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
    return _save_tiny_checkpoint(dest, config, _baichuan_weights(config), ("configuration_baichuan.py",))
