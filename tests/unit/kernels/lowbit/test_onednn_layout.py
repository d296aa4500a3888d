"""ipex_low_bit layers in the operand layouts of vllm-xpu-kernels' oneDNN GEMMs.

No Intel GPU runs the ops here, so each conversion is read back with the plugin's GPTQ reader
(``awq_gptq.dequantize_public``, checked byte for byte against AutoAWQ's packing elsewhere):
``int4_gemm_w4a16`` takes GPTQ's ``qweight`` / ``qzeros`` layout with zero points as they are
(no GPTQ v1 offset). The weights read back must equal, exactly in float32, what the layer's own
tensors encode; layers the ops would compute differently must not be converted.
"""

from __future__ import annotations

import pytest
import torch

from tests.harness.public_checkpoints import encode_public
from vllm_ipex_plugin import envs
from vllm_ipex_plugin.kernels.lowbit import awq_gptq, reference
from vllm_ipex_plugin.kernels.lowbit.formats import get_format
from vllm_ipex_plugin.kernels.lowbit.onednn import onednn_tensors
from vllm_ipex_plugin.kernels.lowbit.onednn_layout import pack_zeros_along_n, to_onednn_fp8, to_onednn_int4
from vllm_ipex_plugin.quantization import dispatch

N, K = 48, 256


def _weight(seed: int = 0) -> torch.Tensor:
    return torch.randn(N, K, generator=torch.Generator().manual_seed(seed))


def _read_back(op) -> torch.Tensor:
    """The weight an ``int4_gemm_w4a16`` call with these operands computes with, through the GPTQ reader."""
    groups = K // op.group_size
    zeros = op.zeros
    if zeros.numel() == 1:  # one symmetric zero point, broadcast: as GPTQ qzeros
        zeros = pack_zeros_along_n(torch.full((groups, N), int(zeros), dtype=torch.uint8))
    public = {"qweight": op.qweight.contiguous(), "qzeros": zeros, "scales": op.scales,
              "g_idx": torch.arange(K) // op.group_size}
    return awq_gptq.dequantize_public("gptq", public, 4, op.group_size, zeros_offset=0)


def test_sym_int4_converts_exactly():
    tensors = reference.quantize(_weight(), "sym_int4")
    op = to_onednn_int4(tensors, get_format("sym_int4"), torch.float16)
    assert op.group_size == 64 and op.zeros.tolist() == [8] and op.zeros.dtype == torch.int8
    assert op.qweight.shape == (K // 8, N) and op.qweight.stride() == (1, K // 8)  # contiguous along K
    assert op.scales.shape == (K // 64, N) and op.scales.dtype == torch.float16
    assert torch.equal(_read_back(op), reference.dequantize(tensors, "sym_int4"))


@pytest.mark.parametrize("source,group", [("gptq", 128), ("awq", 64), ("gptq", 32)])
def test_awq_gptq_asym_int4_converts_to_the_checkpoints_weights(source, group):
    """AWQ / GPTQ layers become asym_int4 with mins = -zero * scale; the oneDNN op gets the
    integer zero points back and computes the checkpoint's own weights."""
    public, encoded = encode_public(_weight(1), source, group=group)
    tensors, perm = awq_gptq.to_asym_int4(source, public, group)
    assert perm is None
    op = to_onednn_int4(tensors, get_format("asym_int4"), torch.float16)
    assert op is not None and op.zeros.shape == (K // op.group_size, N // 8)
    assert torch.equal(_read_back(op), encoded)


def test_layers_the_ops_would_change_stay_unconverted():
    asym = reference.quantize(_weight(2), "asym_int4")  # the plugin's own mins: not integer zero points
    assert to_onednn_int4(asym, get_format("asym_int4"), torch.float16) is None
    sym = reference.quantize(_weight(), "sym_int4")
    assert to_onednn_int4(sym, get_format("sym_int4"), torch.bfloat16) is None  # fp16 scales in bf16
    e4m3 = reference.quantize(_weight(), "fp8_e4m3")  # per-block scales, not per output
    assert to_onednn_fp8(e4m3, get_format("fp8_e4m3")) is None
    assert onednn_tensors(get_format("fp6"), reference.quantize(_weight(), "fp6"), torch.float16) is None
    odd_rows = reference.quantize(_weight()[:44], "sym_int4")  # zero points pack 8 outputs per word
    assert to_onednn_int4(odd_rows, get_format("sym_int4"), torch.float16) is None


def test_fp8_e5m2_is_the_stored_bytes_transposed():
    tensors = reference.quantize(_weight(), "fp8_e5m2")
    weight_kn = to_onednn_fp8(tensors, get_format("fp8_e5m2"))
    assert weight_kn.shape == (K, N) and weight_kn.dtype == torch.float8_e5m2
    assert weight_kn.data_ptr() == tensors["qweight"].data_ptr()  # a view: no second copy
    assert torch.equal(weight_kn.float().t(), reference.dequantize(tensors, "fp8_e5m2"))


def test_layers_off_xpu_keep_the_plugins_kernels(monkeypatch):
    monkeypatch.delenv(envs.LOWBIT_KERNEL, raising=False)
    tensors = reference.quantize(_weight(), "sym_int4")
    kept, matmul = dispatch.layer_kernel("sym_int4", tensors, torch.float16)
    assert kept is tensors and matmul.func is dispatch._reference  # CPU: the torch reference


def test_insisting_on_xpu_kernels_off_an_intel_gpu_says_what_to_do(monkeypatch):
    monkeypatch.setenv(envs.LOWBIT_KERNEL, "xpu_kernels")
    tensors = reference.quantize(_weight(), "sym_int4")
    with pytest.raises(ValueError, match=r"IPEX_PLUGIN_LOWBIT_KERNEL=xpu_kernels needs an Intel GPU \(this layer "
                                         r"is on cpu\); use auto, triton or torch\."):
        dispatch.layer_kernel("sym_int4", tensors, torch.float16)
