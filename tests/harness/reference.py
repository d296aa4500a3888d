"""transformers references: greedy continuations and log-probabilities in float32 / float64."""

from __future__ import annotations

import torch


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


def hf_logprobs(model, token_ids: list[int]) -> torch.Tensor:
    """Log-softmax of the next-token logits at every position, ``[len, vocab]`` float64."""
    with torch.no_grad():
        logits = model(torch.tensor([token_ids])).logits[0]
    return torch.log_softmax(logits.double(), dim=-1)
