"""Tensor and pipeline parallelism in host mode against transformers.

Two worker processes exchange activations through the plugin's communicator
(``XpuCommunicator``, gloo collectives in host mode): tensor parallelism all-reduces
every layer's output, and pipeline parallelism sends the hidden states of the first
stage to the second. Greedy tokens must equal transformers', and the perplexity of a fixed
text must agree within the tolerance of the single-process tests (``tests/harness/greedy_ppl.py``).
The low-bit case quantizes each shard on its own: with 64-column shards the blocks are
those of the whole weight, so transformers runs the same dequantized weights.
"""

from __future__ import annotations

import pytest

from tests.harness.greedy_ppl import check_against_hf, run_llm
from tests.harness.reference import dequantized_hf_model, hf_model


@pytest.mark.e2e
@pytest.mark.parametrize("tp,pp", [(2, 1), (1, 2)])
def test_two_ranks_float32_match_transformers(tiny_llama_path, tp, pp):
    tokens, ids, lps = run_llm(tiny_llama_path, tensor_parallel_size=tp, pipeline_parallel_size=pp)
    check_against_hf(hf_model(tiny_llama_path), tokens, ids, lps)


@pytest.mark.e2e
def test_tensor_parallel_sym_int4_matches_dequantized_transformers(tiny_llama_path):
    tokens, ids, lps = run_llm(
        tiny_llama_path, tensor_parallel_size=2, quantization="ipex_low_bit", additional_config={"low_bit": "sym_int4"}
    )
    check_against_hf(dequantized_hf_model(tiny_llama_path, "sym_int4"), tokens, ids, lps)


@pytest.mark.e2e
@pytest.mark.parametrize("fmt", ["sym_int4", "fp8_e5m2"])
def test_tp2_x_pp2_low_bit_matches_dequantized_transformers(tiny_llama_path, fmt):
    """Four ranks: two pipeline stages of two tensor-parallel shards each."""
    tokens, ids, lps = run_llm(tiny_llama_path, tensor_parallel_size=2, pipeline_parallel_size=2,
                               quantization="ipex_low_bit", additional_config={"low_bit": fmt})
    check_against_hf(dequantized_hf_model(tiny_llama_path, fmt), tokens, ids, lps)
