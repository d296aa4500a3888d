"""AWQ and GPTQ checkpoints (public layouts, written by tests/harness/public_checkpoints.py) through ipex_low_bit.

vLLM + plugin (host mode, float32 compute) must give the same greedy tokens as
transformers running the weights the checkpoint encodes (computed from the integer
codes before packing). Conversion itself is checked bit-exact at unit level
(``tests/unit/kernels/lowbit/test_awq_gptq.py``), the linear method layer by layer in
``tests/unit/quantization/test_awq_gptq.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.harness.public_checkpoints import VARIANTS, edit_quant_config, write_public_checkpoint
from tests.harness.reference import assert_greedy_matches, hf_model
from tests.harness.runners import llm_greedy, llm_in_subprocess

PROMPTS = ["The capital of France is", "def add(a, b):", "Once upon a time there was"]
NEW_TOKENS = 10


def _greedy(model_path: str, **llm_kwargs):
    return llm_greedy(model_path, PROMPTS, max_tokens=NEW_TOKENS, max_model_len=256, **llm_kwargs)


@pytest.mark.e2e
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_tiny_checkpoint_matches_transformers(variant, tmp_path, tiny_llama_path):
    ref = write_public_checkpoint(Path(tiny_llama_path), tmp_path / variant, **VARIANTS[variant])
    results = _greedy(str(tmp_path / variant), quantization="ipex_low_bit")
    assert_greedy_matches(hf_model(tiny_llama_path, lambda name, _: ref.get(name)), results, NEW_TOKENS)


@pytest.mark.e2e
def test_smollm2_gptq_actorder_with_ipex_llm_spelling(tmp_path, demo_model_path, monkeypatch):
    """`--quantization gptq --load-in-low-bit asym_int4` on the plugin's platform."""
    monkeypatch.setenv("IPEX_PLUGIN_LOW_BIT", "asym_int4")
    ref = write_public_checkpoint(Path(demo_model_path), tmp_path / "q", source="gptq", group=64, desc_act=True)
    results = _greedy(str(tmp_path / "q"), quantization="gptq")
    assert_greedy_matches(hf_model(demo_model_path, lambda name, _: ref.get(name)), results, NEW_TOKENS)


@pytest.fixture(scope="module")
def gptq_folder(tmp_path_factory, tiny_llama_path):
    folder = tmp_path_factory.mktemp("bad") / "gptq"
    write_public_checkpoint(Path(tiny_llama_path), folder, source="gptq", group=64)
    return folder


@pytest.mark.e2e
@pytest.mark.parametrize(
    "changes,message",
    [
        ({"bits": 3}, "GPTQ checkpoint with 3-bit weights: ipex_low_bit runs 4-bit GPTQ"),
        ({"bits": 2}, "GPTQ checkpoint with 2-bit weights"),
        ({"group_size": 128}, r"model\.layers\.0\.\S+\.(qzeros|scales): checkpoint tensor of shape \(2, \d+\) "
                              r"does not fit the parameter \(1, \d+\)"),
    ],
)
def test_bad_gptq_checkpoints(gptq_folder, tmp_path, changes, message):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(gptq_folder, bad)
    edit_quant_config(bad, **changes)
    result, _ = llm_in_subprocess(str(bad), max_model_len=128)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert re.search(message, output), output[-2000:]
