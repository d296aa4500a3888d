"""The fused low-bit GEMM under TRITON_INTERPRET=1 against the float64 reference (see ``checks``).

Split-K runs accumulate into the kernel's own zeroed buffer, then copy into ``out``. Inputs
are random draws seeded per case (reproducible).
"""

from __future__ import annotations

import zlib

import pytest
import torch

from tests.triton_interpreter import interpreter_env  # noqa: F401
from tests.unit.kernels.lowbit.checks import (
    KERNEL_FORMATS,
    REL_BOUND,
    assert_all_written,
    gemm,
    poisoned,
    reference,
    rel_err,
)
from vllm_ipex_plugin.kernels.lowbit.formats import get_format
from vllm_ipex_plugin.kernels.lowbit.reference import quantize

pytestmark = pytest.mark.usefixtures("interpreter_env")


@pytest.mark.parametrize("fmt", KERNEL_FORMATS)
@pytest.mark.parametrize("m", [1, 3, 16, 33])
@pytest.mark.parametrize("n,k", [(64, 128), (96, 192)])
def test_gemm_matches_reference(fmt, m, n, k):
    gen = torch.Generator().manual_seed(zlib.crc32(f"{fmt}{m}{n}{k}".encode()))
    w = torch.randn(n, k, generator=gen)
    tensors = quantize(w, fmt)
    x = torch.randn(m, k, generator=gen)
    ref = reference(x, tensors, fmt)
    for split_k in (1, 2):
        out = poisoned(m, n)
        y = gemm.lowbit_gemm(x, tensors, fmt, BM=16, BN=32, BK=128, SPLIT_K=split_k, out=out)
        assert y is out
        assert_all_written(y)
        assert y.shape == (m, n)
        assert rel_err(y, ref) < REL_BOUND, (fmt, split_k)


def test_launch_records_what_runs():
    launch = gemm.gemm_launch(get_format("fp8_e4m3"), 33, 96, 192,
                              {"BM": 16, "BN": 32, "BK": 256, "SPLIT_K": 2, "num_warps": 4, "num_stages": 3})
    assert launch.kernel_name == "vllm_ipex_plugin.kernels.lowbit.gemm:_lowbit_gemm_kernel"
    # BK: the largest power-of-two part of 256 dividing K
    assert launch.constexprs == {"FMT": 5, "HAS_BIAS": False, "BM": 16, "BN": 32, "BK": 64, "SPLIT_K": 2,
                                 "GROUP_M": 8, "QB": 64, "SWAP": False, "X_BLOCK_IO": False}
    assert launch.grid == (3 * 3, 2)


@pytest.mark.parametrize("fmt", KERNEL_FORMATS)
def test_swapped_gemm_matches_reference(fmt):
    """``SWAP`` (the transposed tile ``W x^T``, weights as the dot's first operand): every format, bias,
    split-K 1 and 2, M and N not multiples of the tile (33 rows, 96 columns in 64-row weight tiles)."""
    gen = torch.Generator().manual_seed(zlib.crc32(f"swap{fmt}".encode()))
    m, n, k = 33, 96, 256
    tensors = quantize(torch.randn(n, k, generator=gen), fmt)
    x = torch.randn(m, k, generator=gen)
    bias = torch.randn(n, generator=gen)
    ref = reference(x, tensors, fmt, bias)
    for split_k in (1, 2):
        out = poisoned(m, n)
        y = gemm.lowbit_gemm(x, tensors, fmt, bias, BM=16, BN=64, BK=64, SPLIT_K=split_k, SWAP=True, out=out)
        assert y is out
        assert_all_written(y)
        assert rel_err(y, ref) < REL_BOUND, (fmt, split_k)
    launch = gemm.gemm_launch(get_format(fmt), m, n, k, {"BM": 16, "BN": 64, "BK": 64, "SPLIT_K": 1, "num_warps": 4,
                                                         "num_stages": 3, "SWAP": True})
    assert launch.constexprs["SWAP"] is True
