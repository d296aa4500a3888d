"""The dequantize kernel under TRITON_INTERPRET=1: exactly the reference dequantizer."""

from __future__ import annotations

import pytest
import torch

from tests.triton_interpreter import interpreter_env  # noqa: F401
from tests.unit.kernels.lowbit.checks import KERNEL_FORMATS, dequantize_kernel, g32_asym_int4
from vllm_ipex_plugin.kernels.lowbit.reference import dequantize, quantize

pytestmark = pytest.mark.usefixtures("interpreter_env")


@pytest.mark.parametrize("fmt", KERNEL_FORMATS)
def test_dequantize_kernel_matches_reference(fmt):
    gen = torch.Generator().manual_seed(11)
    tensors = quantize(torch.randn(40, 192, generator=gen), fmt)
    # a fresh tensor: exact equality also catches unwritten elements
    w = dequantize_kernel.lowbit_dequantize(tensors, fmt, torch.float32)
    assert torch.equal(w, dequantize(tensors, fmt))


def test_asym_int4_with_32_column_blocks():
    tensors = g32_asym_int4(torch.Generator().manual_seed(32))
    got = dequantize_kernel.lowbit_dequantize(tensors, "asym_int4", torch.float32)
    assert torch.equal(got, dequantize(tensors, "asym_int4"))
