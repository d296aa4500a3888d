"""Tiny random vision-language models built by the tests (cached), so nothing comes from a hub.

Each reuses the demo model's tokenizer (SmolLM2's byte-level BPE) with the image tokens its
processor needs added, pairs a 2-layer vision tower with a 2-layer language model and saves
processor and weights the way the public checkpoints of the family are laid out, which is what
vLLM's loader expects (transformers 5 writes some families with renamed keys: ``_KEY_LAYOUT``).
Weights are drawn with a large spread, as in ``models.py``, so greedy decoding has clear
winners. Images are 56 pixels a side at most after resizing: a handful of patches per image.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from vllm_ipex_plugin.demo_model import build_demo_model, cache_root

VLM_SEED = 1234
VOCAB = 50432  # the demo tokenizer, its image tokens and PaliGemma's 1152 location/segment tokens
# A plain chat template for processors whose family template needs its own tokenizer.
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for c in m['content'] %}{% if c['type'] in ('image', 'image_url') %}IMAGE_TOKEN"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}")


def _chat_template(image_token: str) -> str:
    return CHAT_TEMPLATE.replace("IMAGE_TOKEN", image_token)


def _tokenizer(*special: str, **named: str):
    """The demo tokenizer with ``special`` tokens added and ``named`` ones set as attributes
    (``image_token="<image>"`` makes ``tokenizer.image_token`` / ``image_token_id``)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(build_demo_model(), extra_special_tokens=named or None)
    tok.add_special_tokens({"additional_special_tokens": [*special, *named.values()]},
                           replace_extra_special_tokens=False)
    return tok


def _gemma_newlines(tok) -> None:
    """Runs of one to four newlines as tokens of their own: vLLM's PaliGemma and Gemma3
    processors look them up by text, as in Gemma's SentencePiece vocabulary."""
    tok.add_tokens(["\n" * n for n in range(1, 5)])


def _text(family: str = "llama", **overrides):
    from transformers import Gemma3TextConfig, GemmaConfig, LlamaConfig, Qwen2Config

    common = dict(vocab_size=VOCAB, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                  bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    common.update(overrides)
    return {"llama": LlamaConfig, "qwen2": Qwen2Config, "gemma": GemmaConfig,
            "gemma3": Gemma3TextConfig}[family](**common)


def _vision(kind: str, **overrides):
    from transformers import CLIPVisionConfig, SiglipVisionConfig

    common = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  image_size=56, patch_size=14)
    common.update(overrides)
    return {"clip": CLIPVisionConfig, "siglip": SiglipVisionConfig}[kind](**common)


def _spread(model) -> None:
    torch.manual_seed(VLM_SEED)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() >= 2:
                param.normal_(0.0, 0.08)
            elif name.endswith("bias"):
                param.normal_(0.0, 0.05)


def _llava():
    from transformers import CLIPImageProcessor, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    tok = _tokenizer("<image>")
    config = LlavaConfig(vision_config=_vision("clip", projection_dim=64), text_config=_text("llama"),
                         image_token_index=tok.convert_tokens_to_ids("<image>"), vision_feature_layer=-2,
                         vision_feature_select_strategy="default")
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56}),
        tokenizer=tok, patch_size=14, vision_feature_select_strategy="default", image_token="<image>",
        num_additional_image_tokens=1, chat_template=_chat_template("<image>"))
    return LlavaForConditionalGeneration(config), processor


def _qwen2_vl():
    from transformers import (
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    tok = _tokenizer("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
                                                    "<|video_pad|>")}
    text = _text("qwen2", rope_scaling={"type": "mrope", "mrope_section": [4, 6, 6]}, use_sliding_window=False)
    vision = dict(depth=2, embed_dim=64, num_heads=4, hidden_size=128, mlp_ratio=2, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, in_chans=3)
    config = Qwen2VLConfig(text_config=text.to_dict(), vision_config=vision,
                           image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                           vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    marker = "<|vision_start|><|image_pad|><|vision_end|>"
    image_processor = Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=56 * 56, patch_size=14,
                                            merge_size=2, temporal_patch_size=2)
    processor = Qwen2VLProcessor(image_processor=image_processor, tokenizer=tok,
                                 video_processor=Qwen2VLVideoProcessor(), chat_template=_chat_template(marker))
    return Qwen2VLForConditionalGeneration(config), processor


def _idefics3():
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3ImageProcessor, Idefics3Processor

    tok = _tokenizer("<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>")
    vision = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  image_size=56, patch_size=14)
    config = Idefics3Config(vision_config=vision, text_config=_text("llama").to_dict(), scale_factor=2, pad_token_id=2,
                            image_token_id=tok.convert_tokens_to_ids("<image>"))
    image_processor = Idefics3ImageProcessor(size={"longest_edge": 56}, max_image_size={"longest_edge": 56},
                                             do_image_splitting=False)
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tok, image_seq_len=4,
                                  chat_template=_chat_template("<image>"))
    return Idefics3ForConditionalGeneration(config), processor


def _paligemma():
    from transformers import (
        PaliGemmaConfig,
        PaliGemmaForConditionalGeneration,
        PaliGemmaProcessor,
        SiglipImageProcessor,
    )

    tok = _tokenizer(image_token="<image>")
    _gemma_newlines(tok)
    config = PaliGemmaConfig(vision_config=_vision("siglip", projection_dim=128).to_dict(),
                             text_config=_text("gemma", head_dim=32).to_dict(),
                             image_token_index=tok.image_token_id, projection_dim=128, hidden_size=128,
                             tie_word_embeddings=False)
    config.vision_config.projection_dim = 128
    image_processor = SiglipImageProcessor(size={"height": 56, "width": 56})
    image_processor.image_seq_length = (56 // 14) ** 2
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tok,
                                   chat_template=_chat_template(""))  # the processor puts images first
    return PaliGemmaForConditionalGeneration(config), processor


def _gemma3():
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3ImageProcessor, Gemma3Processor

    tok = _tokenizer(boi_token="<start_of_image>", eoi_token="<end_of_image>", image_token="<image_soft_token>")
    _gemma_newlines(tok)
    text = _text("gemma3", head_dim=32, sliding_window=64, query_pre_attn_scalar=32)
    config = Gemma3Config(text_config=text.to_dict(), vision_config=_vision("siglip").to_dict(),
                          mm_tokens_per_image=4, boi_token_index=tok.boi_token_id, eoi_token_index=tok.eoi_token_id,
                          image_token_index=tok.image_token_id, tie_word_embeddings=False)
    image_processor = Gemma3ImageProcessor(size={"height": 56, "width": 56}, do_pan_and_scan=False)
    processor = Gemma3Processor(image_processor=image_processor, tokenizer=tok, image_seq_length=4,
                                chat_template=_chat_template("<start_of_image>"))
    return Gemma3ForConditionalGeneration(config), processor


def _gemma4():
    """Gemma 4 without per-layer inputs (``hidden_size_per_layer_input=0``), image tokens
    bidirectional on the sliding layer only (``use_bidirectional_attention="vision"``; a global
    layer before the last, so spans wrongly kept there would change the tokens), head size 32 on
    the sliding layer and 64 on the global ones. Images are resized to about 100 pixels a side in
    4-pixel patches, pooled 3x3: 60-63 soft tokens (70 at most, the smallest budget the image
    processor accepts), against a sliding window of 16, so vLLM's spans are clamped to the window
    (``mm_prefix_clamp_sliding_window``). The processor wants audio tokens in the tokenizer even
    without an audio tower."""
    from transformers import (
        Gemma4AudioFeatureExtractor,
        Gemma4Config,
        Gemma4ForConditionalGeneration,
        Gemma4ImageProcessor,
        Gemma4Processor,
        Gemma4TextConfig,
        Gemma4VideoProcessor,
        Gemma4VisionConfig,
    )

    tok = _tokenizer(image_token="<|image|>", boi_token="<|image>", eoi_token="<image|>",
                     audio_token="<|audio|>", boa_token="<|audio>", eoa_token="<audio|>")
    text = Gemma4TextConfig(vocab_size=VOCAB, hidden_size=128, intermediate_size=256, num_hidden_layers=3,
                            num_attention_heads=4, num_key_value_heads=2, head_dim=32, global_head_dim=64,
                            max_position_embeddings=1024, sliding_window=16,
                            layer_types=["sliding_attention", "full_attention", "full_attention"],
                            use_bidirectional_attention="vision", hidden_size_per_layer_input=0,
                            vocab_size_per_layer_input=VOCAB, final_logit_softcapping=30.0,
                            pad_token_id=0, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    vision = Gemma4VisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                num_key_value_heads=4, head_dim=16, patch_size=4, pooling_kernel_size=3,
                                position_embedding_size=128, default_output_length=70)
    config = Gemma4Config(text_config=text, vision_config=vision, audio_config=None,
                          image_token_id=tok.image_token_id, boi_token_id=tok.boi_token_id,
                          eoi_token_id=tok.eoi_token_id, tie_word_embeddings=False)
    image_processor = Gemma4ImageProcessor(patch_size=4, pooling_kernel_size=3, max_soft_tokens=70)
    processor = Gemma4Processor(feature_extractor=Gemma4AudioFeatureExtractor(), image_processor=image_processor,
                                tokenizer=tok, video_processor=Gemma4VideoProcessor(patch_size=4), image_seq_length=70,
                                chat_template=_chat_template("<|image|>"))
    return Gemma4ForConditionalGeneration(config), processor


def _hub_vision_tower(key: str) -> str:
    """``vision_tower.X`` -> ``vision_tower.vision_model.X`` (CLIP / SigLIP towers as published)."""
    if key.startswith("vision_tower.") and not key.startswith("vision_tower.vision_model."):
        return "vision_tower.vision_model." + key[len("vision_tower."):]
    return key


# Families whose transformers-5 save differs from the public checkpoints vLLM loads.
_KEY_LAYOUT: dict[str, Callable[[str], str]] = {"llava": _hub_vision_tower, "paligemma": _hub_vision_tower,
                                                "gemma3": _hub_vision_tower}

VLM_BUILDERS: dict[str, Callable] = {"llava": _llava, "qwen2_vl": _qwen2_vl, "idefics3": _idefics3,
                                     "paligemma": _paligemma, "gemma3": _gemma3, "gemma4": _gemma4}


def build_tiny_vlm(family: str, dest: Path | None = None) -> Path:
    """A random float32 vision-language model of ``family`` (``VLM_BUILDERS``), cached by name."""
    dest = Path(dest) if dest else cache_root() / f"tiny-vlm-{family}"
    if (dest / "config.json").exists():
        return dest
    torch.manual_seed(VLM_SEED)
    model, processor = VLM_BUILDERS[family]()
    _spread(model)
    tmp = dest.with_name(dest.name + ".tmp")
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    if family in _KEY_LAYOUT:
        from safetensors.torch import load_file, save_file

        for shard in tmp.glob("*.safetensors"):
            tensors = load_file(shard)
            save_file({_KEY_LAYOUT[family](k): v.contiguous() for k, v in tensors.items()}, shard,
                      metadata={"format": "pt"})
    tmp.rename(dest)
    return dest


def image_placeholder(family: str) -> str:
    """The text a prompt of ``family`` carries where its image goes ("" for PaliGemma: its
    processor puts the image before the prompt)."""
    return {"llava": "<image>", "qwen2_vl": "<|vision_start|><|image_pad|><|vision_end|>", "idefics3": "<image>",
            "paligemma": "", "gemma3": "<start_of_image>", "gemma4": "<|image|>"}[family]
