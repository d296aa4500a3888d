"""What the low-bit Triton kernel tests share: the kernel modules imported under the interpreter,
the float64 reference and the error measure.

Outputs are poisoned (NaN, passed as ``out``) before a launch so an unwritten element fails.
Bound: relative Frobenius error of the kernel's output vs ``x.double() @ dequantize(W).double().T``
below ``REL_BOUND`` (float32 activations in the interpreter: the only error is fp32
accumulation order; fp16 activations on a GPU are checked in benchmarks/lowbit_gemm.py with
bound 2e-3).
"""

from __future__ import annotations

import torch

from tests.triton_interpreter import import_interpreted
from vllm_ipex_plugin.kernels.lowbit.formats import QUANTIZED
from vllm_ipex_plugin.kernels.lowbit.reference import dequantize

# matmul imports gemv, gemm, dequantize and decode: all of them interpreted
matmul = import_interpreted("vllm_ipex_plugin.kernels.lowbit.matmul")
gemv = import_interpreted("vllm_ipex_plugin.kernels.lowbit.gemv")
gemm = import_interpreted("vllm_ipex_plugin.kernels.lowbit.gemm")
dequantize_kernel = import_interpreted("vllm_ipex_plugin.kernels.lowbit.dequantize")

REL_BOUND = 1e-5
KERNEL_FORMATS = [spec.name for spec in QUANTIZED]
PAIRED_FORMATS = [spec.name for spec in QUANTIZED if spec.paired_gemv]


def reference(x: torch.Tensor, tensors: dict[str, torch.Tensor], fmt: str, bias=None) -> torch.Tensor:
    ref = x.double() @ dequantize(tensors, fmt).double().T
    return ref + bias.double() if bias is not None else ref


def rel_err(y: torch.Tensor, ref: torch.Tensor) -> float:
    return ((y.double() - ref).norm() / ref.norm()).item()


def poisoned(m: int, n: int) -> torch.Tensor:
    return torch.full((m, n), float("nan"))


def assert_all_written(y: torch.Tensor) -> None:
    assert not torch.isnan(y).any(), "kernel left output elements unwritten"


def g32_asym_int4(gen: torch.Generator, n: int = 48, k: int = 256) -> dict[str, torch.Tensor]:
    """asym_int4 as converted from group-size-32 AWQ/GPTQ: one scale and min per 32 columns."""
    return {
        "qweight": torch.randint(0, 256, (n, k // 2), generator=gen, dtype=torch.uint8),
        "scales": (torch.rand(n, k // 32, generator=gen) * 0.1).half(),
        "mins": (torch.randn(n, k // 32, generator=gen) * 0.1).half(),
    }
