"""Tensor and pipeline parallelism in host mode against transformers.

Two worker processes exchange activations through the plugin's communicator
(``XpuCommunicator``, gloo collectives in host mode): tensor parallelism all-reduces
every layer's output, and pipeline parallelism sends the hidden states of the first
stage to the second. Greedy tokens must equal transformers', and the perplexity of a fixed
text must agree within the tolerance of the single-process tests (``tests/harness/greedy_ppl.py``).
The low-bit case quantizes each shard on its own: with 64-column shards the blocks are
those of the whole weight, so transformers runs the same dequantized weights. A GPTQ checkpoint
is split too: each tensor-parallel shard of a row-parallel layer holds its own groups' scales and
counts ``g_idx`` from its first group; transformers runs the checkpoint's encoded weights. An
act-order permutation that moves columns across those shards is refused at load.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.greedy_ppl import check_against_hf, run_llm
from tests.harness.public_checkpoints import write_public_checkpoint
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


@pytest.mark.e2e
@pytest.mark.parametrize("desc_act,tp,pp", [(False, 2, 1), (False, 2, 2), (True, 1, 2)])
def test_gptq_checkpoint_across_ranks_matches_transformers(tiny_llama_path, tmp_path, desc_act, tp, pp):
    """GPTQ (group 32) split across ranks: tensor-parallel shards of row-parallel layers hold their own
    groups' scales and count ``g_idx`` from their first group; an act-order checkpoint across pipeline
    stages (no layer is split)."""
    ref = write_public_checkpoint(Path(tiny_llama_path), tmp_path / "q", source="gptq", group=32, desc_act=desc_act)
    tokens, ids, lps = run_llm(str(tmp_path / "q"), tensor_parallel_size=tp, pipeline_parallel_size=pp,
                               quantization="ipex_low_bit")
    check_against_hf(hf_model(tiny_llama_path, lambda name, _: ref.get(name)), tokens, ids, lps)


@pytest.mark.e2e
def test_gptq_act_order_split_across_tensor_parallel_shards_is_refused_with_what_to_do(tiny_llama_path, tmp_path):
    """A random act-order permutation moves columns across the two shards of a row-parallel layer;
    each shard holds only its own groups' scales, so start-up stops and says what to do."""
    from tests.harness.runners import llm_in_subprocess

    write_public_checkpoint(Path(tiny_llama_path), tmp_path / "q", source="gptq", group=32, desc_act=True)
    result, _ = llm_in_subprocess(str(tmp_path / "q"), tensor_parallel_size=2, quantization="ipex_low_bit",
                                  timeout=300)
    output = result.stdout + result.stderr  # the workers' log lines go to stdout
    assert result.returncode != 0
    assert ("act-order permutation (g_idx) moves columns across the 2 tensor-parallel shards of a row-parallel "
            "layer" in output), output[-3000:]
    assert "serve it with tensor_parallel_size=1 (pipeline parallelism is fine)" in output
