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
    from transformers import LlamaConfig, Qwen2Config

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
    raise ValueError(f"unknown tiny architecture {arch!r}")


def build_tiny_model(arch: str, dest: Path | None = None, **overrides) -> Path:
    """A 2-layer random ``llama`` or ``qwen2`` model in float32, cached by name."""
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
