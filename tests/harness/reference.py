"""transformers references: models on given weights, greedy continuations and log-probabilities
in float32 / float64, perplexity."""

from __future__ import annotations

import math

import torch


def hf_model(model_path: str, weights=lambda name, param: None):
    """transformers' model of ``model_path`` in float32, eval mode; every parameter for which
    ``weights(name, param)`` returns a tensor takes that tensor's values."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    with torch.no_grad():
        for name, param in model.named_parameters():
            value = weights(name, param)
            if value is not None:
                param.copy_(value)
    return model.eval()


def dequantized_hf_model(model_path: str, fmt: str, skip=lambda name: False):
    """``hf_model`` with every projection ipex_low_bit quantizes (except ``skip``'s) replaced by
    ``dequantize(quantize(w, fmt))``: the weights vLLM runs with ``low_bit=fmt``."""
    from vllm_ipex_plugin.kernels.lowbit.reference import dequantize, quantize
    from vllm_ipex_plugin.quantize_checkpoint import is_quantizable

    def weights(name, param):
        if is_quantizable(name, param) and not skip(name):
            return dequantize(quantize(param, fmt), fmt)
        return None

    return hf_model(model_path, weights)


def dequantized_checkpoint(src, dst, fmt: str, also: tuple[str, ...] = ()):
    """A copy of the checkpoint folder ``src`` at ``dst`` whose every tensor ipex_low_bit quantizes
    holds ``dequantize(quantize(w, fmt))``: the weights the plugin runs with ``low_bit=fmt``, for a
    reference that is not transformers (stock vLLM on its CPU platform). ``also``: name suffixes
    of further linear weights vLLM loads into quantized layers (TeleChat2's ``query`` and
    ``key_value`` go into its ``qkv_proj``)."""
    import shutil
    from pathlib import Path

    from safetensors.torch import load_file, save_file

    from vllm_ipex_plugin.kernels.lowbit.reference import dequantize, quantize
    from vllm_ipex_plugin.quantize_checkpoint import is_quantizable

    src, dst = Path(src), Path(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.safetensors"))
    changed = 0
    for shard in sorted(src.glob("*.safetensors")):
        tensors = load_file(str(shard))
        for name, tensor in tensors.items():
            if is_quantizable(name, tensor) or (tensor.dim() == 2 and name.endswith(also)):
                tensors[name] = dequantize(quantize(tensor, fmt), fmt).to(tensor.dtype).contiguous()
                changed += 1
        save_file(tensors, str(dst / shard.name), metadata={"format": "pt"})
    assert changed, f"no tensor of {src} is one ipex_low_bit quantizes"
    return dst


def hf_greedy(model, input_ids: list[int], max_new_tokens: int) -> list[int]:
    """Greedy continuation by transformers (float32), without padding."""
    ids = torch.tensor([input_ids])
    with torch.no_grad():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=model.config.eos_token_id,
        )
    return out[0, len(input_ids) :].tolist()


def assert_greedy_matches(model, results, max_new_tokens: int) -> None:
    """Each ``(prompt_token_ids, token_ids)`` of ``results`` continues as transformers' greedy."""
    for prompt_ids, tokens in results:
        assert list(tokens) == hf_greedy(model, list(prompt_ids), max_new_tokens)


def hf_logprobs(model, token_ids: list[int]) -> torch.Tensor:
    """Log-softmax of the next-token logits at every position, ``[len, vocab]`` float64."""
    with torch.no_grad():
        logits = model(torch.tensor([token_ids])).logits[0]
    return torch.log_softmax(logits.double(), dim=-1)


def perplexity(token_logprobs: list[float]) -> float:
    return math.exp(-sum(token_logprobs) / len(token_logprobs))
