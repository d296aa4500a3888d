"""Vision-language models on the plugin's platform (host mode): greedy tokens of ``LLM.generate``
with images (two images of different sizes in one batch), of ``LLM.chat()`` with a data-URL
image, and of the server's ``/v1/chat/completions``, against transformers' greedy tokens on the
same tiny random weights (``tests/harness/vlm_models.py``), float32 on both sides.

PaliGemma and Gemma3 attend bidirectionally over their image tokens: vLLM hands the backend each
image's token span (``mm_prefix_range``) and the plugin's kernels let every position of a span see
the whole span. transformers' reference gets the same spans through its token types (Gemma3: 1
on image tokens; PaliGemma: 0 on image tokens, 1 elsewhere -- transformers' PaliGemma would make
the whole text prompt bidirectional as well, which vLLM does on no platform).

Gemma4 (``use_bidirectional_attention="vision"``) makes its image tokens bidirectional on the
sliding layers only, and there within the window: ``(causal OR span) AND window``; its global
layers stay causal (transformers' ``create_masks_for_vision_model``). The tiny model's window (16)
is shorter than its images (60 and 63 soft tokens): vLLM's runner keeps such spans only for models
that clamp them in the kernel (``mm_prefix_clamp_sliding_window``), and the plugin's kernels clamp
them on the sliding layer; transformers gets the spans through ``mm_token_type_ids`` (1 on image
tokens). Its first global layer is not the last one, so spans kept there (vLLM clears them on the
global layers' metadata) would change the tokens. vLLM picks TRITON_ATTN for Gemma4's two head
sizes; host mode runs the plugin's backend for it.
"""

from __future__ import annotations

import base64
import io

import pytest
import torch

from tests.harness.runners import with_llm
from tests.harness.vlm_models import build_tiny_vlm, image_placeholder

FAMILIES = ["llava", "qwen2_vl", "idefics3", "paligemma", "gemma3", "gemma4"]
PREFIX_LM = ("paligemma", "gemma3", "gemma4")  # families whose image tokens attend bidirectionally
MAX_TOKENS = 8
QUESTION = "Describe the picture."


def _images():
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)) for shape in ((64, 80, 3), (90, 60, 3))]


def _data_url(image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _prompt(family: str) -> str:
    return f"user: {image_placeholder(family)}{QUESTION}\nassistant:"


def _chat_text(processor) -> str:
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def _reference(path: str):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model, info = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    return model.eval(), AutoProcessor.from_pretrained(path)


def _token_types(model, family: str, ids: torch.Tensor, bidirectional: bool) -> torch.Tensor:
    """The token types that give transformers vLLM's attention: each image's tokens one
    bidirectional span (``bidirectional``), every other position causal; or all causal."""
    image = (ids == model.config.image_token_id).long() if bidirectional else torch.zeros_like(ids)
    return 1 - image if family == "paligemma" else image


def _unclamped_masks(model, ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """Gemma4's masks with each image span whole on the sliding layers, ``(causal AND window) OR
    span`` (what vLLM's runner gives a model that does not clamp in the kernel, had it kept the
    spans): transformers' ``(causal OR span) AND window`` with the clamp left out."""
    pos = torch.arange(ids.shape[1])
    q, k = pos[:, None], pos[None, :]
    image = ids[0] == model.config.image_token_id  # one image per prompt: one span
    span = image[:, None] & image[None, :]
    causal = k <= q
    sliding = (causal & (q - k < model.config.text_config.sliding_window)) | span
    return {"full_attention": causal[None, None], "sliding_attention": sliding[None, None]}


def _hf_greedy(model, processor, family: str, text: str, image, bidirectional: bool = True,
               clamp: bool = True) -> list[int]:
    """transformers' greedy continuation (full forward per token, no cache); ``bidirectional``
    False: image tokens causal too; ``clamp`` False (Gemma4): image spans not clamped to the window."""
    inputs = dict(processor(text=text, images=image, return_tensors="pt"))
    inputs.pop("labels", None)
    ids, out = inputs.pop("input_ids"), []
    prompt_len = ids.shape[1]
    # per-token inputs (token types) grow with the sequence; generated tokens are text (0)
    per_token = {k: v for k, v in inputs.items() if torch.is_tensor(v) and v.shape[:2] == (1, prompt_len)}
    with torch.no_grad():
        for _ in range(MAX_TOKENS):
            grown = {k: torch.cat([v, v.new_zeros(1, ids.shape[1] - prompt_len)], 1) for k, v in per_token.items()}
            step = {**inputs, **grown, "input_ids": ids, "attention_mask": torch.ones_like(ids)}
            if family in PREFIX_LM:
                types = "mm_token_type_ids" if family == "gemma4" else "token_type_ids"
                step[types] = _token_types(model, family, ids, bidirectional)
            if not clamp:
                step["attention_mask"] = _unclamped_masks(model, ids)
            token = model(**step).logits[0, -1].argmax().item()
            out.append(token)
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    return out


def _vllm(path: str, **llm_kwargs):
    from tests.harness.runners import greedy_params

    images = _images()
    family = path.rsplit("tiny-vlm-", 1)[-1]

    def use(llm):
        params = greedy_params(MAX_TOKENS)
        batch = llm.generate([{"prompt": _prompt(family), "multi_modal_data": {"image": im}} for im in images],
                             params, use_tqdm=False)
        chat = llm.chat([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": _data_url(images[0])}},
                                                      {"type": "text", "text": QUESTION}]}],
                        params, use_tqdm=False)
        return [list(o.outputs[0].token_ids) for o in batch], list(chat[0].outputs[0].token_ids)

    return with_llm(path, use, limit_mm_per_prompt={"image": 1}, **llm_kwargs)


@pytest.mark.e2e
@pytest.mark.parametrize("family", FAMILIES)
def test_image_prompts_match_transformers(family):
    path = str(build_tiny_vlm(family))
    batch, chat = _vllm(path)
    model, processor = _reference(path)
    images = _images()
    expected = [_hf_greedy(model, processor, family, _prompt(family), im) for im in images]
    assert batch == expected
    assert chat == _hf_greedy(model, processor, family, _chat_text(processor), images[0])
    if family in PREFIX_LM:  # the spans matter on these weights: causal image tokens answer otherwise
        assert expected != [_hf_greedy(model, processor, family, _prompt(family), im, False) for im in images]
    if family == "gemma4":  # and so does their clamp to the sliding window: whole spans answer otherwise
        assert expected != [_hf_greedy(model, processor, family, _prompt(family), im, clamp=False) for im in images]


@pytest.mark.e2e
@pytest.mark.parametrize("family, language_layers", [("qwen2_vl", 14), ("gemma4", 21)])  # layers x 7 linears
def test_sym_int4_language_model_with_a_16_bit_vision_tower(family, language_layers):
    """``ipex_low_bit`` quantizes the language model's linear layers and leaves the vision tower
    and projector in 16 bits: the reference is transformers with exactly those weights
    dequantized. Gemma4's projector is ``embed_vision``; its tower's linears are transformers'
    modules that vLLM swaps for its own."""
    from vllm_ipex_plugin.kernels.lowbit.reference import dequantize, quantize
    from vllm_ipex_plugin.quantization.vision_modules import is_vision_module
    from vllm_ipex_plugin.quantize_checkpoint import is_quantizable

    path = str(build_tiny_vlm(family))
    batch, _ = _vllm(path, quantization="ipex_low_bit", additional_config={"low_bit": "sym_int4"})
    model, processor = _reference(path)
    changed = {"language": 0, "vision kept": 0}
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 2 and is_vision_module(name):
                changed["vision kept"] += 1
            elif is_quantizable(name, param) and not name.startswith("lm_head"):
                param.copy_(dequantize(quantize(param, "sym_int4"), "sym_int4"))
                changed["language"] += 1
    assert changed["language"] == language_layers and changed["vision kept"] >= 4, changed
    assert batch == [_hf_greedy(model, processor, family, _prompt(family), im) for im in _images()]


@pytest.mark.e2e
def test_image_chat_through_the_server(tmp_path):
    """``/v1/chat/completions`` with a data-URL image (Qwen2-VL), as an OpenAI client sends it."""
    import openai

    from tests.harness.server import VllmServer, free_port

    path = str(build_tiny_vlm("qwen2_vl"))
    image = _images()[1]
    model, processor = _reference(path)
    expected = _hf_greedy(model, processor, "qwen2_vl", _chat_text(processor), image)
    args = ["--dtype", "float32", "--enforce-eager", "--max-model-len", "512", "--limit-mm-per-prompt",
            '{"image": 1}']
    with VllmServer(path, args, free_port(), str(tmp_path / "serve.log")) as server:
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="none", max_retries=0)

        def ask(url: str, max_tokens: int = MAX_TOKENS):
            content = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": QUESTION}]
            return client.chat.completions.create(model=path, max_tokens=max_tokens, temperature=0,
                                                  messages=[{"role": "user", "content": content}],
                                                  extra_body={"ignore_eos": True, "return_token_ids": True})

        assert ask(_data_url(image)).choices[0].token_ids == expected
        # the server keeps serving after an image it cannot decode
        with pytest.raises(openai.BadRequestError):
            ask("data:image/png;base64,bm90IGFuIGltYWdl", max_tokens=2)
        assert ask(_data_url(image)).choices[0].token_ids == expected
