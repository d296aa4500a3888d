"""The check the low-bit and the parallel e2e tests share: vLLM's greedy tokens on ``PROMPTS``
equal transformers', and the perplexity of ``FIXED_TEXT`` (prompt logprobs) is within
``PPL_RTOL`` of transformers' on the same weights."""

from __future__ import annotations

from tests.harness.reference import assert_greedy_matches, hf_logprobs, perplexity
from tests.harness.runners import greedy_params, prompt_logprobs, with_llm

PPL_RTOL = 0.01
NEW_TOKENS = 12
PROMPTS = ["The capital of France is", "def add(a, b):", "Once upon a time"]
FIXED_TEXT = (
    "Licensed under the Apache License, Version 2.0 (the License); you may not use this "
    "file except in compliance with the License. You may obtain a copy of the License at "
    "the project's web site. Unless required by applicable law or agreed to in writing, "
    "software distributed under the License is distributed on an AS IS BASIS, WITHOUT "
    "WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the License for "
    "the specific language governing permissions and limitations under the License."
)


def run_llm(model_path: str, **llm_kwargs):
    """One ``LLM``: greedy ``NEW_TOKENS`` on ``PROMPTS``, then ``FIXED_TEXT``'s prompt logprobs.
    Returns ``(tokens, ids, lps)``: ``[(prompt_token_ids, token_ids)]``, the text's ids, its logprobs."""

    def use(llm):
        outs = llm.generate(PROMPTS, greedy_params(NEW_TOKENS), use_tqdm=False)
        tokens = [(list(o.prompt_token_ids), list(o.outputs[0].token_ids)) for o in outs]
        return (tokens, *prompt_logprobs(llm, FIXED_TEXT))

    return with_llm(model_path, use, **llm_kwargs)


def check_against_hf(hf, tokens, ids, lps) -> tuple[float, float]:
    """Asserts ``run_llm``'s result against transformers' model ``hf``; returns both perplexities."""
    assert_greedy_matches(hf, tokens, NEW_TOKENS)
    ref = hf_logprobs(hf, ids)
    ref_lps = [ref[i - 1, ids[i]].item() for i in range(1, len(ids))]
    ours, theirs = perplexity(lps), perplexity(ref_lps)
    assert abs(ours - theirs) / theirs < PPL_RTOL, (ours, theirs)
    return ours, theirs
