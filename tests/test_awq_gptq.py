"""AWQ and GPTQ checkpoints (public layouts, written by tests/public_checkpoints.py) through ipex_low_bit.

vLLM + plugin (host mode, float32 compute) must give the same greedy tokens as
transformers running the weights the checkpoint encodes (computed from the integer
codes before packing). Conversion itself is checked bit-exact at unit level.
"""

from __future__ import annotations

import gc
import re
import subprocess
import sys

import pytest
import torch

from tests.public_checkpoints import edit_quant_config, write_public_checkpoint
from vllm_ipex_plugin.kernels import awq_gptq
from vllm_ipex_plugin.kernels.lowbit_reference import dequantize
from vllm_ipex_plugin.testing import hf_greedy

PROMPTS = ["The capital of France is", "def add(a, b):", "Once upon a time there was"]
NEW_TOKENS = 10

VARIANTS = {
    "awq-g128": dict(source="awq", group=128),
    "awq-g32": dict(source="awq", group=32),
    "gptq-asym-g64": dict(source="gptq", group=64),
    "gptq-sym-g128-actorder": dict(source="gptq", group=128, sym=True, desc_act=True),
    "gptq-asym-g32-actorder": dict(source="gptq", group=32, desc_act=True),
    "gptq-sym-perchannel": dict(source="gptq", group=-1, sym=True),
    "gptq-8bit-sym-g64": dict(source="gptq", bits=8, group=64, sym=True),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_conversion_is_exact(variant, tmp_path, tiny_llama_path):
    from pathlib import Path

    from safetensors.torch import load_file

    spec = VARIANTS[variant]
    ref = write_public_checkpoint(Path(tiny_llama_path), tmp_path, **spec)
    tensors = load_file(str(tmp_path / "model.safetensors"))
    name = "model.layers.1.mlp.down_proj"
    public = {k.rsplit(".", 1)[1]: v for k, v in tensors.items() if k.startswith(name + ".")}
    k = ref[name + ".weight"].shape[1]
    group = k if spec["group"] == -1 else spec["group"]
    assert torch.equal(awq_gptq.dequantize_public(spec["source"], public, spec.get("bits", 4), group),
                       ref[name + ".weight"])
    if spec.get("bits", 4) == 4:
        converted, perm = awq_gptq.to_asym_int4(spec["source"], public, group)
        fmt = "asym_int4"
    else:
        converted, perm = awq_gptq.gptq8_to_sym_int8(public, group)
        fmt = "sym_int8"
    expected = ref[name + ".weight"]
    if perm is not None:
        expected = expected[:, perm.long()]
    assert (perm is not None) == spec.get("desc_act", False)
    assert torch.equal(dequantize(converted, fmt), expected)


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


@pytest.mark.parametrize(
    "config,message",
    [
        ({"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemv"}, "AWQ checkpoint in the GEMV layout"),
        ({"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": False}, "without zero points"),
        ({"quant_method": "gptq", "bits": 8, "group_size": 128, "sym": False}, "Asymmetric 8-bit GPTQ"),
        ({"quant_method": "gptq", "bits": 4, "group_size": 48}, "group size 48"),
    ],
)
def test_unsupported_configs_are_refused(config, message):
    from vllm_ipex_plugin.quantization.awq_gptq import parse_public_config

    with pytest.raises(ValueError, match=message):
        parse_public_config(config)


def _autoawq_gemm_class():
    """AutoAWQ's own GEMM packer. Its package __init__ pulls in model and dataset code this
    project does not install, so only the packing module is imported."""
    import importlib.util
    import types

    spec = importlib.util.find_spec("awq")
    if spec is None:
        pytest.fail("autoawq is not installed (scripts/setup_env.sh installs it with --no-deps)")
    if "awq" not in sys.modules:
        pkg = types.ModuleType("awq")
        pkg.__path__ = list(spec.submodule_search_locations)
        sys.modules["awq"] = pkg
    from awq.modules.linear.gemm import WQLinear_GEMM

    return WQLinear_GEMM


def test_awq_writer_matches_autoawq_byte_for_byte():
    """Our AWQ packing (used by the test checkpoints and read back by the plugin) == AutoAWQ's."""
    wq_linear_gemm = _autoawq_gemm_class()
    gen = torch.Generator().manual_seed(5)
    n, k, g = 64, 256, 64
    linear = torch.nn.Linear(k, n, bias=False)
    scales = (torch.rand(k // g, n, generator=gen) * 0.05 + 0.01).half()
    zeros = torch.randint(0, 16, (k // g, n), generator=gen)
    q = torch.randint(0, 16, (n, k), generator=gen)
    with torch.no_grad():  # weights exactly on the grid, so AutoAWQ's rounding recovers q
        linear.weight.copy_((q.float() - zeros.float().repeat_interleave(g, 0).T)
                            * scales.float().repeat_interleave(g, 0).T)
    theirs = wq_linear_gemm.from_linear(linear, 4, g, scales=scales.float(),
                                        zeros=zeros.float())
    ours_qweight = awq_gptq.pack_int32(q.T.contiguous(), 4, 1, awq_gptq.AWQ_ORDER)
    ours_qzeros = awq_gptq.pack_int32(zeros, 4, 1, awq_gptq.AWQ_ORDER)
    assert torch.equal(theirs.qweight, ours_qweight)
    assert torch.equal(theirs.qzeros, ours_qzeros)
    unpacked = awq_gptq.dequantize_public("awq", {"qweight": theirs.qweight, "qzeros": theirs.qzeros,
                                                  "scales": theirs.scales}, 4, g)
    assert torch.equal(unpacked, linear.weight.float())
