"""vLLM + plugin (host mode) against Hugging Face transformers on the same weights.

Greedy tokens must be identical; top-5 logprobs of every generated step must agree
within LOGPROB_ATOL (float32 arithmetic on both sides; the reference is computed in
float64 from transformers' float32 logits). The batch mixes prompt lengths, includes
one prompt longer than ``max_num_batched_tokens`` (chunked prefill), and a second
round re-uses the first round's prefix (prefix caching).
"""

from __future__ import annotations

import pytest

from tests.harness.reference import hf_greedy, hf_logprobs, hf_model
from tests.harness.runners import llm_generate

LOGPROB_ATOL = 2e-3
MAX_NUM_BATCHED_TOKENS = 64
NEW_TOKENS = 12
TOP_K = 5

SHARED_PREFIX = (
    "The history of computing is long and full of surprising turns. Early machines "
    "filled whole rooms, consumed enormous amounts of power and could only perform a "
    "handful of operations each second. Over the decades, engineers learned to shrink "
    "circuits onto silicon, and each generation of chips became faster and cheaper. "
    "Software grew alongside the hardware: operating systems, compilers, databases and "
    "networks turned isolated calculators into a connected web of services that people "
    "use every day without thinking about the machinery underneath. "
)
FIRST_ROUND = [
    "Hello, my name is",
    "The capital of France is",
    SHARED_PREFIX + "Today, a single phone",  # > MAX_NUM_BATCHED_TOKENS tokens
    "def fibonacci(n):",
]
SECOND_ROUND = [
    SHARED_PREFIX + "Looking ahead, researchers expect",  # cached prefix
    "The capital of France is",  # fully cached prompt
]


def _vllm_run(model_path: str, block_size: int, rounds: list[list[str]], max_batched: int = MAX_NUM_BATCHED_TOKENS):
    return llm_generate(
        model_path, rounds, max_tokens=NEW_TOKENS, logprobs=TOP_K, block_size=block_size,
        enable_prefix_caching=True, enable_chunked_prefill=True, max_num_batched_tokens=max_batched,
        max_num_seqs=8,
    )


def _check_against_hf(model_path: str, results, max_batched: int = MAX_NUM_BATCHED_TOKENS) -> None:
    hf = hf_model(model_path)
    assert any(len(p) > max_batched for p, _ in results), "no chunked prompt"
    for prompt_ids, completion in results:
        expected = hf_greedy(hf, prompt_ids, NEW_TOKENS)
        assert list(completion.token_ids) == expected, (
            f"greedy tokens differ for prompt of {len(prompt_ids)} tokens"
        )
        ref = hf_logprobs(hf, prompt_ids + expected)
        for step, step_logprobs in enumerate(completion.logprobs):
            row = ref[len(prompt_ids) - 1 + step]
            for token_id, lp in step_logprobs.items():
                diff = abs(lp.logprob - row[token_id].item())
                assert diff < LOGPROB_ATOL, (
                    f"step {step} token {token_id}: vLLM {lp.logprob:.5f} vs HF "
                    f"{row[token_id].item():.5f}"
                )


@pytest.mark.e2e
@pytest.mark.parametrize("block_size", [8, 16, 64])
@pytest.mark.parametrize("model_fixture", ["demo_model_path", "tiny_llama_path", "tiny_qwen2_path"])
def test_greedy_and_logprobs_match_transformers(request, model_fixture, block_size):
    model_path = request.getfixturevalue(model_fixture)
    results = _vllm_run(model_path, block_size, [FIRST_ROUND, SECOND_ROUND])
    _check_against_hf(model_path, results)


@pytest.mark.e2e
def test_runs_on_plugin_platform_and_backend(demo_model_path):
    """The run above really used our platform and attention backend, not vLLM's CPU ones."""
    from vllm.platforms import current_platform

    from vllm_ipex_plugin.platform.xpu_platform import XpuHostPlatform

    assert type(current_platform) is XpuHostPlatform
    from vllm.v1.attention.backends.registry import AttentionBackendEnum

    assert AttentionBackendEnum["IPEX_XPU_ATTN"].get_path().endswith("IpexAttentionBackend")


@pytest.mark.e2e
def test_triton_kernels_through_vllm_match_transformers(tiny_llama_path, monkeypatch):
    """The Triton provider (interpreted on the CPU) under vLLM with descriptor reads: tiles of
    cached prefixes come from the paged cache, tiles of the step's new tokens from the key and
    value tensors vLLM hands the backend. Block size 64 = the 64-position KV tiles; a prompt of
    200+ tokens in chunks of 128 gives query blocks with whole new-token tiles below them,
    both on a fresh start and after a cached prefix (a chunk, then the second round)."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # read by vLLM's spawned worker when it imports Triton
    monkeypatch.setenv("IPEX_PLUGIN_ATTN_PROVIDER", "triton")
    monkeypatch.setenv("IPEX_PLUGIN_ATTN_KV_LOAD", "desc")
    long_prefix = 2 * SHARED_PREFIX
    rounds = [[*FIRST_ROUND[:2], long_prefix + "Today, a single phone"], [long_prefix + "Looking ahead, researchers"]]
    results = _vllm_run(tiny_llama_path, 64, rounds, max_batched=128)
    _check_against_hf(tiny_llama_path, results, max_batched=128)
