"""``IpexLowBitLinearMethod`` layer by layer: create_weights -> load -> process_weights_after_loading
-> apply, for every format, on the torch reference path and on the Triton kernels (interpreted).

Reference: ``x.double() @ dequantize(quantize(W)).double().T + bias`` with the format's own
reference quantizer; bound 1e-5 relative (float32 activations: fp32 accumulation order only;
the Triton quantize kernel is bit-identical to the reference quantizer). The stored tensors
must equal ``reference.quantize(W)`` exactly and the float weight must be gone.
"""

from __future__ import annotations

import pytest
import torch

from tests.triton_interpreter import import_interpreted, interpreter_env  # noqa: F401
from tests.unit.quantization.layers import load_layer, rel_err, single_rank  # noqa: F401
from vllm_ipex_plugin import envs
from vllm_ipex_plugin.kernels.lowbit.formats import FORMATS
from vllm_ipex_plugin.kernels.lowbit.reference import dequantize, quantize
from vllm_ipex_plugin.quantization.config import IpexLowBitConfig
from vllm_ipex_plugin.quantization.ipex_low_bit import IpexLowBitLinearMethod

matmul = import_interpreted("vllm_ipex_plugin.kernels.lowbit.matmul")
import_interpreted("vllm_ipex_plugin.kernels.lowbit.quantize_kernel")

pytestmark = pytest.mark.usefixtures("single_rank")  # vLLM's ModelWeightParameter reads the TP rank
BOUND = 1e-5
N, K = 96, 192
PREFIX = "model.layers.0.mlp.down_proj"


def _config(fmt: str, prequantized: bool = False) -> IpexLowBitConfig:
    config = IpexLowBitConfig.from_config({"quant_method": "ipex_low_bit", "low_bit": fmt,
                                           "prequantized": prequantized})
    config.resolve({"low_bit": fmt} if not prequantized else {})
    return config


def _check(layer, fmt: str, w: torch.Tensor, gen: torch.Generator, rows=(1, 5, 200)) -> None:
    bias = torch.randn(N, generator=gen)
    expected = dequantize(quantize(w, fmt), fmt).double()
    for m in rows:  # GEMV, fused GEMM, dequantize + dense on the Triton path
        x = torch.randn(m, K, generator=gen)
        y = layer.ipex_low_bit_method.apply(layer, x, bias)
        assert y.shape == (m, N) and y.dtype == torch.float32
        assert rel_err(y, x.double() @ expected.T + bias.double()) < BOUND, (fmt, m)


def _quantize_on_load(fmt: str, gen: torch.Generator):
    w = torch.randn(N, K, generator=gen)
    method = IpexLowBitLinearMethod(_config(fmt), PREFIX)
    layer = load_layer(method, {"weight": w}, N, K, partitions=[N // 3, 2 * N // 3])  # fused (qkv-like) rows
    layer.ipex_low_bit_method = method
    assert not hasattr(layer, "weight") or not FORMATS[fmt].quantized
    stored = {name: getattr(layer, name) for name in layer.ipex_low_bit_tensors}
    expected = quantize(w, fmt)
    assert stored.keys() == expected.keys() and all(torch.equal(stored[t], expected[t]) for t in expected)
    return layer, w


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_quantize_on_load_torch_reference(fmt, monkeypatch):
    monkeypatch.setenv(envs.LOWBIT_KERNEL, "auto")  # CPU: the torch reference
    gen = torch.Generator().manual_seed(1)
    layer, w = _quantize_on_load(fmt, gen)
    assert not isinstance(layer.ipex_low_bit_matmul, matmul.LowBitMatmul)
    _check(layer, fmt, w, gen)


@pytest.mark.usefixtures("interpreter_env")
@pytest.mark.parametrize("fmt", sorted(name for name, spec in FORMATS.items() if spec.quantized))
def test_quantize_on_load_triton_kernels(fmt, monkeypatch):
    monkeypatch.setenv(envs.LOWBIT_KERNEL, "triton")  # decided once, when the weights are processed
    gen = torch.Generator().manual_seed(2)
    layer, w = _quantize_on_load(fmt, gen)
    monkeypatch.setenv(envs.LOWBIT_KERNEL, "torch")  # read no more: the layer keeps its plan
    assert isinstance(layer.ipex_low_bit_matmul, matmul.LowBitMatmul)
    _check(layer, fmt, w, gen)


@pytest.mark.parametrize("fmt", ["sym_int4", "fp6", "fp8_e5m2"])
def test_prequantized_tensors_load_as_they_are(fmt):
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(N, K, generator=gen)
    method = IpexLowBitLinearMethod(_config(fmt, prequantized=True), PREFIX)
    layer = load_layer(method, quantize(w, fmt), N, K, params_dtype=torch.float16)
    layer.ipex_low_bit_method = method
    _check(layer, fmt, w, gen, rows=(1, 7))


def test_prequantized_tensor_of_another_format_is_refused():
    method = IpexLowBitLinearMethod(_config("sym_int4", prequantized=True), PREFIX)
    sym_int8 = quantize(torch.randn(N, K), "sym_int8")["qweight"]
    with pytest.raises(ValueError, match=rf"tensor {PREFIX}\.qweight is torch\.int8 \(96, 192\), but the declared "
                                         r"format needs torch\.uint8 with 96 columns per shard"):
        load_layer(method, {"qweight": sym_int8}, N, K)


def test_input_not_a_multiple_of_64_stays_16_bit():
    gen = torch.Generator().manual_seed(4)
    w = torch.randn(N, 96, generator=gen)
    method = IpexLowBitLinearMethod(_config("sym_int4"), PREFIX)
    layer = load_layer(method, {"weight": w}, N, 96)
    assert not layer.ipex_low_bit_active and torch.equal(layer.weight, w)
    x = torch.randn(3, 96, generator=gen)
    assert torch.equal(method.apply(layer, x), torch.nn.functional.linear(x, w))
