"""Triton low-bit kernels under TRITON_INTERPRET=1 against the torch reference.

Outputs are poisoned (NaN, passed as ``out``) before every launch so an unwritten element
fails; split-K runs accumulate into the kernel's own zeroed buffer, then copy into ``out``. Inputs
are random draws seeded per case (reproducible). Bound: relative Frobenius error of the kernel's output
vs ``x.double() @ dequantize(W).double().T`` below REL_BOUND (float32 activations in the
interpreter: the only error is fp32 accumulation order; fp16 activations on a GPU are
checked in benchmarks/lowbit_gemm.py with bound 2e-3).
"""

from __future__ import annotations

import zlib

import pytest
import torch

from tests.triton_interpreter import import_interpreted, interpreter_env  # noqa: F401

lt = import_interpreted("vllm_ipex_plugin.kernels.lowbit_triton")

from vllm_ipex_plugin.kernels.lowbit_reference import dequantize, quantize  # noqa: E402

REL_BOUND = 1e-5


pytestmark = pytest.mark.usefixtures("interpreter_env")
FORMATS = ["sym_int4", "asym_int4", "nf4", "fp6", "sym_int8", "fp8_e4m3", "fp8_e5m2"]


def _assert_all_written(y: torch.Tensor) -> None:
    assert not torch.isnan(y).any(), "kernel left output elements unwritten"


def _reference(x, tensors, fmt, bias=None):
    ref = x.double() @ dequantize(tensors, fmt).double().T
    return ref + bias.double() if bias is not None else ref


def _rel_err(y, ref) -> float:
    return ((y.double() - ref).norm() / ref.norm()).item()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("m", [1, 3, 16, 33])
@pytest.mark.parametrize("n,k", [(64, 128), (96, 192)])
def test_gemm_matches_reference(fmt, m, n, k):
    gen = torch.Generator().manual_seed(zlib.crc32(f"{fmt}{m}{n}{k}".encode()))
    w = torch.randn(n, k, generator=gen)
    tensors = quantize(w, fmt)
    x = torch.randn(m, k, generator=gen)
    ref = _reference(x, tensors, fmt)
    for split_k in (1, 2):
        poisoned = torch.full((m, n), float("nan"))
        y = lt.lowbit_gemm(x, tensors, fmt, BM=16, BN=32, BK=128, SPLIT_K=split_k, out=poisoned)
        assert y is poisoned
        _assert_all_written(y)
        assert y.shape == (m, n)
        assert _rel_err(y, ref) < REL_BOUND, (fmt, split_k)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("m", [1, 3])
def test_gemv_matches_reference(fmt, m):
    gen = torch.Generator().manual_seed(zlib.crc32(f"{fmt}{m}".encode()))
    n, k = 80, 256
    tensors = quantize(torch.randn(n, k, generator=gen), fmt)
    x = torch.randn(m, k, generator=gen)
    bias = torch.randn(n, generator=gen)
    ref = _reference(x, tensors, fmt, bias)
    for split_k, bk, pairs in ((1, 128, False), (2, 64, False), (1, 128, True), (2, 64, True)):
        poisoned = torch.full((m, n), float("nan"))
        y = lt.lowbit_gemv(x, tensors, fmt, bias, BN=16, BK=bk, SPLIT_K=split_k, PAIRS=pairs, out=poisoned)
        assert y is poisoned
        _assert_all_written(y)
        assert _rel_err(y, ref) < REL_BOUND, (fmt, split_k, pairs)


@pytest.mark.parametrize("fmt", ["sym_int4", "fp8_e4m3"])
def test_dispatch_by_batch_size(fmt, monkeypatch):
    gen = torch.Generator().manual_seed(7)
    tensors = quantize(torch.randn(64, 128, generator=gen), fmt)
    monkeypatch.setattr(lt.lowbit_tuning, "DENSE_MIN_M", 8)
    for m in (1, 4, 9):  # GEMV, Triton GEMM, dequantize + dense
        x = torch.randn(2, m, 128, generator=gen)  # 3-D input, flattened by the dispatch
        y = lt.lowbit_matmul(x, tensors, fmt)
        assert y.shape == (2, m, 64)
        assert _rel_err(y.reshape(-1, 64), _reference(x.reshape(-1, 128), tensors, fmt)) < REL_BOUND


@pytest.mark.parametrize("fmt", FORMATS)
def test_dequantize_kernel_matches_reference(fmt):
    gen = torch.Generator().manual_seed(11)
    tensors = quantize(torch.randn(40, 192, generator=gen), fmt)
    # a fresh tensor: exact equality also catches unwritten elements
    w = lt.lowbit_dequantize(tensors, fmt, torch.float32)
    assert torch.equal(w, dequantize(tensors, fmt))


@pytest.mark.parametrize("m", [1, 5])
def test_asym_int4_with_32_column_blocks(m):
    """asym_int4 converted from group-size-32 AWQ/GPTQ: one scale and min per 32 columns."""
    gen = torch.Generator().manual_seed(32 + m)
    n, k = 48, 256
    tensors = {
        "qweight": torch.randint(0, 256, (n, k // 2), generator=gen, dtype=torch.uint8),
        "scales": (torch.rand(n, k // 32, generator=gen) * 0.1).half(),
        "mins": (torch.randn(n, k // 32, generator=gen) * 0.1).half(),
    }
    x = torch.randn(m, k, generator=gen)
    ref = _reference(x, tensors, "asym_int4")
    for launch in (lt.lowbit_gemv, lt.lowbit_gemm):
        y = launch(x, tensors, "asym_int4", BN=16, BK=128, SPLIT_K=2, out=torch.full((m, n), float("nan")))
        _assert_all_written(y)
        assert _rel_err(y, ref) < REL_BOUND, launch.__name__
    assert torch.equal(lt.lowbit_dequantize(tensors, "asym_int4", torch.float32), dequantize(tensors, "asym_int4"))


@pytest.mark.parametrize("fmt", ["sym_int4", "asym_int4", "nf4"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_paired_gemv_reads_16_bit_activations_as_pairs(fmt, dtype):
    """fp16/bf16 activations go through the int32 pair view; bound: the 16-bit input rounding
    is the same for kernel and reference, so only fp32 accumulation order differs."""
    gen = torch.Generator().manual_seed(zlib.crc32(f"pairs{fmt}{dtype}".encode()))
    n, k = 48, 256
    tensors = quantize(torch.randn(n, k, generator=gen), fmt)
    x = torch.randn(1, k, generator=gen).to(dtype)
    ref = _reference(x.float(), tensors, fmt)
    y = lt.lowbit_gemv(x, tensors, fmt, BN=16, BK=128, SPLIT_K=1, PAIRS=True, out=torch.full((1, n), float("nan")))
    _assert_all_written(y)
    assert _rel_err(y, ref) < 1e-5
