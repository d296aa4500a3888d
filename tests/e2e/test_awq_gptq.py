"""AWQ and GPTQ checkpoints (public layouts, written by tests/public_checkpoints.py) through ipex_low_bit.

vLLM + plugin (host mode, float32 compute) must give the same greedy tokens as
transformers running the weights the checkpoint encodes (computed from the integer
codes before packing). Conversion itself is checked bit-exact at unit level
(``tests/unit/kernels/lowbit/test_awq_gptq.py``), the linear method layer by layer in
``tests/unit/quantization/test_awq_gptq.py``.
"""

from __future__ import annotations

import gc
import re
import subprocess
import sys

import pytest
import torch

from tests.public_checkpoints import VARIANTS, edit_quant_config, write_public_checkpoint
from vllm_ipex_plugin.testing import hf_greedy

PROMPTS = ["The capital of France is", "def add(a, b):", "Once upon a time there was"]
NEW_TOKENS = 10


def _hf_with(model_path: str, reference: dict[str, torch.Tensor]):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in reference:
                param.copy_(reference[name])
    return model.eval()


def _greedy(model_path: str, **kwargs):
    from vllm import LLM, SamplingParams

    llm = LLM(model=model_path, dtype="float32", enforce_eager=True, max_model_len=256, seed=0, **kwargs)
    try:
        outs = llm.generate(PROMPTS, SamplingParams(max_tokens=NEW_TOKENS, temperature=0, ignore_eos=True),
                            use_tqdm=False)
        return [(o.prompt_token_ids, list(o.outputs[0].token_ids)) for o in outs]
    finally:
        del llm
        gc.collect()


@pytest.mark.e2e
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_tiny_checkpoint_matches_transformers(variant, tmp_path, tiny_llama_path):
    from pathlib import Path

    ref = write_public_checkpoint(Path(tiny_llama_path), tmp_path / variant, **VARIANTS[variant])
    results = _greedy(str(tmp_path / variant), quantization="ipex_low_bit")
    hf = _hf_with(tiny_llama_path, ref)
    for prompt_ids, tokens in results:
        assert tokens == hf_greedy(hf, prompt_ids, NEW_TOKENS)


@pytest.mark.e2e
def test_smollm2_gptq_actorder_with_ipex_llm_spelling(tmp_path, demo_model_path, monkeypatch):
    """`--quantization gptq --load-in-low-bit asym_int4` on the plugin's platform."""
    from pathlib import Path

    monkeypatch.setenv("IPEX_PLUGIN_LOW_BIT", "asym_int4")
    ref = write_public_checkpoint(Path(demo_model_path), tmp_path / "q", source="gptq", group=64, desc_act=True)
    results = _greedy(str(tmp_path / "q"), quantization="gptq")
    hf = _hf_with(demo_model_path, ref)
    for prompt_ids, tokens in results:
        assert tokens == hf_greedy(hf, prompt_ids, NEW_TOKENS)


def _load_fails(folder) -> str:
    code = (
        "from vllm import LLM\n"
        "if __name__ == '__main__':\n"
        f"    LLM(model={str(folder)!r}, dtype='float32', enforce_eager=True, max_model_len=128)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def gptq_folder(tmp_path_factory, tiny_llama_path):
    from pathlib import Path

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
    output = _load_fails(bad)
    assert re.search(message, output), output[-2000:]
