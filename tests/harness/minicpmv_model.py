"""Tiny random MiniCPM-V 2.6 and 4.5 checkpoints (vLLM's ``MiniCPMV`` architecture; the config's
``version`` picks vLLM's ``MiniCPMV2_6`` or ``MiniCPMV4_5``), built by the tests and cached, so
nothing comes from a model hub.

MiniCPM-V 2.6 is a SigLIP / Idefics2 vision tower (``vpm``, images cut into slices of at most
``scale_resolution``² pixels, LLaVA-UHD style), a perceiver resampler (``resampler``:
``query_num`` learned queries cross-attend each slice's patches, one embedding token per query)
and a Qwen2 language model (``llm``); 4.5 has the same tower and resampler weights (vLLM's
``Resampler4_5`` adds only video's temporal positions) and a Qwen3 language model. The
checkpoints carry remote code: the config class and the image processor
(``tests/harness/remote_code/configuration_minicpmv.py`` and ``image_processing_minicpmv.py``,
copied into the folder; load with ``trust_remote_code=True``).
vLLM vendors the processor itself (``preprocessor_config.json``'s ``processor_class``).

Tiny sizes: language model hidden 128 (vLLM's resampler has ``hidden // 128`` heads), 2 layers;
vision tower hidden 64, 2 layers, 14-pixel patches, slices of 56 pixels a side (16 patches);
16 queries. The tokenizer is the demo model's (SmolLM2's byte-level BPE) with MiniCPM-V's image
tokens added (``<unk>`` is the token each image embedding takes the place of), ``im_start`` /
``im_end`` set on it as MiniCPM-V's own tokenizer does. Weights are random float32 with the
names of the public checkpoints (``llm.model...``, ``llm.lm_head``, ``vpm...``,
``resampler...``), drawn with a large spread as in ``models.py`` so greedy decoding has clear
winners. transformers has no MiniCPM-V implementation: the reference is vLLM's own CPU platform.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from tests.harness.models import REMOTE_CODE
from vllm_ipex_plugin.demo_model import build_demo_model, cache_root

MINICPMV_SEED = 1234
IMAGE_PATTERN = "(<image>./</image>)"  # where a prompt's image goes (vLLM's placeholder text)
# Image tokens of MiniCPM-V 2.6's tokenizer; "<unk>" stands for each image embedding.
IMAGE_TOKENS = ("<image>", "</image>", "<slice>", "</slice>", "<image_id>", "</image_id>", "<unk>")
VOCAB = 49216  # the demo tokenizer (49152) and IMAGE_TOKENS, rounded up to a multiple of 64
TEXT = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2)
VISION = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
              image_size=56, patch_size=14)
QUERY_NUM = 16
REMOTE_FILES = ("configuration_minicpmv.py", "image_processing_minicpmv.py")


def _config(version: str) -> dict:
    # 4.5's language model is Qwen3 (q/k norms, no q/k/v biases); 2.6's is Qwen2.
    qwen3 = {"head_dim": TEXT["hidden_size"] // TEXT["num_attention_heads"], "attention_bias": False}
    return {"architectures": ["MiniCPMV"], "model_type": "minicpmv", "version": float(version),
            **(qwen3 if version == "4.5" else {}),
            "auto_map": {"AutoConfig": "configuration_minicpmv.MiniCPMVConfig"},
            "vocab_size": VOCAB, **TEXT, "hidden_act": "silu", "max_position_embeddings": 1024,
            "rms_norm_eps": 1e-6, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0},
            "use_sliding_window": False, "tie_word_embeddings": False, "torch_dtype": "float32",
            "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
            "query_num": QUERY_NUM, "image_size": VISION["image_size"], "max_slice_num": 9,
            "drop_vision_last_layer": False, "use_image_id": True, "slice_config": {"max_slice_nums": 9},
            "vision_config": {**VISION, "model_type": "siglip_vision_model", "hidden_act": "gelu_pytorch_tanh",
                              "layer_norm_eps": 1e-6, "num_channels": 3}}


def _preprocessor_config(version: str) -> dict:
    return {"auto_map": {"AutoImageProcessor": "image_processing_minicpmv.MiniCPMVImageProcessor"},
            "image_processor_type": "MiniCPMVImageProcessor", "processor_class": "MiniCPMVProcessor",
            "max_slice_nums": 9, "scale_resolution": VISION["image_size"], "patch_size": VISION["patch_size"],
            "image_feature_size": QUERY_NUM, "use_image_id": True, "slice_mode": True,
            "norm_mean": [0.5, 0.5, 0.5], "norm_std": [0.5, 0.5, 0.5], "version": float(version)}


def _weights(version: str) -> dict[str, torch.Tensor]:
    """The public checkpoints' tensor names (what vLLM's ``MiniCPMV2_6`` / ``MiniCPMV4_5`` loads),
    random values."""
    gen = torch.Generator().manual_seed(MINICPMV_SEED)

    def rand(*shape: int, std: float = 0.08) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * std

    def norm(prefix: str, n: int, bias: bool = True) -> dict[str, torch.Tensor]:
        out = {prefix + ".weight": 1 + rand(n, std=0.05)}
        if bias:
            out[prefix + ".bias"] = rand(n, std=0.05)
        return out

    h, f = TEXT["hidden_size"], TEXT["intermediate_size"]
    head_dim = h // TEXT["num_attention_heads"]
    kv = head_dim * TEXT["num_key_value_heads"]
    w = {"llm.model.embed_tokens.weight": rand(VOCAB, h), **norm("llm.model.norm", h, bias=False),
         "llm.lm_head.weight": rand(VOCAB, h)}
    for i in range(TEXT["num_hidden_layers"]):
        p = f"llm.model.layers.{i}."
        w.update({**norm(p + "input_layernorm", h, bias=False), **norm(p + "post_attention_layernorm", h, bias=False),
                  p + "self_attn.q_proj.weight": rand(h, h), p + "self_attn.q_proj.bias": rand(h, std=0.05),
                  p + "self_attn.k_proj.weight": rand(kv, h), p + "self_attn.k_proj.bias": rand(kv, std=0.05),
                  p + "self_attn.v_proj.weight": rand(kv, h), p + "self_attn.v_proj.bias": rand(kv, std=0.05),
                  p + "self_attn.o_proj.weight": rand(h, h),
                  p + "mlp.gate_proj.weight": rand(f, h), p + "mlp.up_proj.weight": rand(f, h),
                  p + "mlp.down_proj.weight": rand(h, f)})
        if version == "4.5":  # Qwen3: per-head q/k RMS norms instead of q/k/v biases
            for proj in ("q_proj", "k_proj", "v_proj"):
                del w[p + f"self_attn.{proj}.bias"]
            w.update({**norm(p + "self_attn.q_norm", head_dim, bias=False),
                      **norm(p + "self_attn.k_norm", head_dim, bias=False)})

    d, fv, patch = VISION["hidden_size"], VISION["intermediate_size"], VISION["patch_size"]
    positions = (VISION["image_size"] // patch) ** 2
    w.update({"vpm.embeddings.patch_embedding.weight": rand(d, 3, patch, patch),
              "vpm.embeddings.patch_embedding.bias": rand(d, std=0.05),
              "vpm.embeddings.position_embedding.weight": rand(positions, d),
              **norm("vpm.post_layernorm", d)})
    for i in range(VISION["num_hidden_layers"]):
        p = f"vpm.encoder.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            w.update({p + f"self_attn.{proj}.weight": rand(d, d), p + f"self_attn.{proj}.bias": rand(d, std=0.05)})
        w.update({**norm(p + "layer_norm1", d), **norm(p + "layer_norm2", d),
                  p + "mlp.fc1.weight": rand(fv, d), p + "mlp.fc1.bias": rand(fv, std=0.05),
                  p + "mlp.fc2.weight": rand(d, fv), p + "mlp.fc2.bias": rand(d, std=0.05)})

    w.update({"resampler.query": rand(QUERY_NUM, h), "resampler.kv_proj.weight": rand(h, d),
              "resampler.attn.in_proj_weight": rand(3 * h, h), "resampler.attn.in_proj_bias": rand(3 * h, std=0.05),
              "resampler.attn.out_proj.weight": rand(h, h), "resampler.attn.out_proj.bias": rand(h, std=0.05),
              **norm("resampler.ln_q", h), **norm("resampler.ln_kv", h), **norm("resampler.ln_post", h),
              "resampler.proj": rand(h, h)})
    return w


def _tokenizer():
    """The demo tokenizer with ``IMAGE_TOKENS`` added, ``im_start`` / ``im_end`` (and their ids)
    naming ``<image>`` / ``</image>``: vLLM's vendored processor finds image bounds by them."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(build_demo_model(),
                                        extra_special_tokens={"im_start": "<image>", "im_end": "</image>"})
    tok.add_special_tokens({"additional_special_tokens": list(IMAGE_TOKENS)}, replace_extra_special_tokens=False)
    assert len(tok) <= VOCAB, len(tok)
    return tok


def build_tiny_minicpmv(version: str = "2.6", dest: Path | None = None) -> Path:
    """A random float32 MiniCPM-V checkpoint (``MiniCPMV``; ``version`` "2.6": Qwen2 language
    model, or "4.5": Qwen3) with its remote code; cached by name, written to a ``.tmp`` folder
    first so a half-written one is never cached."""
    from safetensors.torch import save_file

    assert version in ("2.6", "4.5"), version
    dest = Path(dest) if dest else cache_root() / f"tiny-minicpmv-{version.replace('.', '_')}"
    if (dest / "config.json").exists():
        return dest
    tmp = dest.with_name(dest.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    (tmp / "config.json").write_text(json.dumps(_config(version), indent=1))
    (tmp / "preprocessor_config.json").write_text(json.dumps(_preprocessor_config(version), indent=1))
    save_file({k: v.contiguous() for k, v in _weights(version).items()}, str(tmp / "model.safetensors"),
              metadata={"format": "pt"})
    _tokenizer().save_pretrained(tmp)
    for name in REMOTE_FILES:
        shutil.copyfile(REMOTE_CODE / name, tmp / name)
    tmp.rename(dest)
    return dest
