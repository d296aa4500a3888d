"""AWQ / GPTQ public layouts -> asym_int4 / sym_int8: bit-exact conversion, and our packing == AutoAWQ's."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from tests.harness.public_checkpoints import VARIANTS, write_public_checkpoint
from vllm_ipex_plugin.kernels.lowbit import awq_gptq
from vllm_ipex_plugin.kernels.lowbit.reference import dequantize


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_conversion_is_exact(variant, tmp_path, tiny_llama_path):
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
