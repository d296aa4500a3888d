"""The GEMV kernels under TRITON_INTERPRET=1 against the float64 reference (see ``checks``)."""

from __future__ import annotations

import zlib

import pytest
import torch

from tests.triton_interpreter import interpreter_env  # noqa: F401
from tests.unit.kernels.lowbit.checks import (
    KERNEL_FORMATS,
    PAIRED_FORMATS,
    REL_BOUND,
    assert_all_written,
    g32_asym_int4,
    gemv,
    poisoned,
    reference,
    rel_err,
)
from vllm_ipex_plugin.kernels.common.device import INTEL_TARGETS
from vllm_ipex_plugin.kernels.lowbit.formats import get_format
from vllm_ipex_plugin.kernels.lowbit.reference import quantize

pytestmark = pytest.mark.usefixtures("interpreter_env")


@pytest.mark.parametrize("fmt", KERNEL_FORMATS)
@pytest.mark.parametrize("m", [1, 3])
def test_gemv_matches_reference(fmt, m):
    gen = torch.Generator().manual_seed(zlib.crc32(f"{fmt}{m}".encode()))
    n, k = 80, 256
    tensors = quantize(torch.randn(n, k, generator=gen), fmt)
    x = torch.randn(m, k, generator=gen)
    bias = torch.randn(n, generator=gen)
    ref = reference(x, tensors, fmt, bias)
    for split_k, bk, pairs in ((1, 128, False), (2, 64, False), (1, 128, True), (2, 64, True)):
        out = poisoned(m, n)
        y = gemv.lowbit_gemv(x, tensors, fmt, bias, BN=16, BK=bk, SPLIT_K=split_k, PAIRS=pairs, out=out)
        assert y is out
        assert_all_written(y)
        assert rel_err(y, ref) < REL_BOUND, (fmt, split_k, pairs)


@pytest.mark.parametrize("fmt", PAIRED_FORMATS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_paired_gemv_reads_16_bit_activations_as_pairs(fmt, dtype):
    """fp16/bf16 activations go through the int32 pair view; bound: the 16-bit input rounding
    is the same for kernel and reference, so only fp32 accumulation order differs."""
    gen = torch.Generator().manual_seed(zlib.crc32(f"pairs{fmt}{dtype}".encode()))
    n, k = 48, 256
    tensors = quantize(torch.randn(n, k, generator=gen), fmt)
    x = torch.randn(1, k, generator=gen).to(dtype)
    ref = reference(x.float(), tensors, fmt)
    y = gemv.lowbit_gemv(x, tensors, fmt, BN=16, BK=128, SPLIT_K=1, PAIRS=True, out=poisoned(1, n))
    assert_all_written(y)
    assert rel_err(y, ref) < 1e-5


def test_launch_picks_the_kernel_and_refuses_unsafe_rows():
    cfg = {"BN": 8, "BK": 512, "SPLIT_K": 2, "num_warps": 4, "num_stages": 2, "PAIRS": True}
    pvc = INTEL_TARGETS["pvc"]
    paired = gemv.gemv_launch(get_format("nf4"), 1, 4096, 4096, cfg, pvc, x_dtype=torch.bfloat16)
    assert paired.function == "_lowbit_gemv_pairs_kernel" and paired.constexprs["X_KIND"] == 2
    assert paired.grid == (512, 1, 2)
    with pytest.raises(ValueError, match=r"GEMV rows per program must be one of \(1, 16\) \(got 8\)"):
        gemv.gemv_launch(get_format("fp6"), 1, 4096, 4096, cfg, pvc)  # fp6 takes no paired GEMV


W4_CASES = ["sym_int4", "asym_int4", "asym_int4-g32"]


@pytest.mark.parametrize("case", W4_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_word_wise_gemv_matches_reference(case, dtype):
    """``_lowbit_gemv_w4_kernel`` (``W4``): sym_int4 and asym_int4 with 64- and 32-column blocks,
    float32 / fp16 / bf16 activations, bias, split-K 1, 2 and 4, N = 72 (not a multiple of the 16
    or 8 rows per program), several K tiles per program. Bound ``REL_BOUND`` (1e-5) against
    ``x.double() @ dequantize(W).double().T`` on the same (16-bit-rounded) activations, outputs
    written in float32: the only error is fp32 arithmetic. The folded offset keeps it there: a
    decoded value is ``1 + q/16`` in [1, 2) (``4 + q/16`` for the pair read without a shift) where
    the weight it stands for is ``(q - 8)/16`` in [-0.5, 0.5), so the partial sums carry a few bits
    more magnitude than the result, far inside float32's 24."""
    fmt = case.split("-")[0]
    gen = torch.Generator().manual_seed(zlib.crc32(f"w4{case}{dtype}".encode()))
    n, k = 72, 512
    if case.endswith("g32"):
        tensors = g32_asym_int4(gen, n, k)
    else:
        tensors = quantize(torch.randn(n, k, generator=gen), fmt)
    x = torch.randn(1, k, generator=gen).to(dtype)
    bias = torch.randn(n, generator=gen).to(dtype)
    ref = reference(x.float(), tensors, fmt, bias.float())
    for bn, bk, split_k in ((16, 128, 1), (8, 128, 2), (16, 64, 4)):
        out = poisoned(1, n)
        y = gemv.lowbit_gemv(x, tensors, fmt, bias, BN=bn, BK=bk, SPLIT_K=split_k, W4=True, num_warps=2,
                             num_stages=2, out=out)
        assert y is out
        assert_all_written(y)
        assert rel_err(y, ref) < REL_BOUND, (case, dtype, bn, bk, split_k)


def test_word_wise_gemv_takes_only_the_int4_formats():
    cfg = {"BN": 16, "BK": 512, "SPLIT_K": 1, "num_warps": 2, "num_stages": 2, "W4": True}
    pvc = INTEL_TARGETS["pvc"]
    for fmt in ("sym_int4", "asym_int4"):
        launch = gemv.gemv_launch(get_format(fmt), 1, 4096, 4096, cfg, pvc)
        assert launch.function == "_lowbit_gemv_w4_kernel" and launch.grid == (256, 1, 1)
    both = gemv.gemv_launch(get_format("nf4"), 1, 4096, 4096, {**cfg, "PAIRS": True}, pvc)
    assert both.function == "_lowbit_gemv_pairs_kernel"  # nf4's codebook: no word-wise decode
    assert gemv.gemv_launch(get_format("fp6"), 1, 4096, 4096, cfg, pvc).function == "_lowbit_gemv_kernel"


H16_CASES = ["sym_int4", "asym_int4", "asym_int4-g32", "fp6", "sym_int8", "fp8_e4m3", "fp8_e5m2"]
# Bound of the fp16-pair GEMV against float64 on the same fp16 activations, outputs in float32: a
# word's (at most eight) products and their sum are rounded to fp16, at most five roundings of
# 2^-11 of that partial sum each, independent across words, so the norm-wise relative error stays
# near 2^-11 (4.9e-4); 2e-3 leaves four times that. (The fp32 kernels stay below 1e-5.)
H16_BOUND = 2e-3


@pytest.mark.parametrize("case", H16_CASES)
def test_fp16_pair_gemv_matches_reference(case):
    """``_lowbit_gemv_h16_kernel`` (``H16``): every format it takes, 64- and 32-column blocks, bias,
    split-K 1, 2 and 4, N = 72 (not a multiple of the rows per program), several K tiles per program."""
    fmt = case.split("-")[0]
    gen = torch.Generator().manual_seed(zlib.crc32(f"h16{case}".encode()))
    n, k = 72, 512
    tensors = g32_asym_int4(gen, n, k) if case.endswith("g32") else quantize(torch.randn(n, k, generator=gen), fmt)
    x = torch.randn(1, k, generator=gen).half()
    bias = torch.randn(n, generator=gen).half()
    ref = reference(x.float(), tensors, fmt, bias.float())
    for bn, bk, split_k in ((16, 128, 1), (8, 128, 2), (32, 64, 4)):
        out = poisoned(1, n)
        y = gemv.lowbit_gemv(x, tensors, fmt, bias, BN=bn, BK=bk, SPLIT_K=split_k, H16=True, num_warps=2,
                             num_stages=2, out=out)
        assert y is out
        assert_all_written(y)
        assert rel_err(y, ref) < H16_BOUND, (case, bn, bk, split_k)


@pytest.mark.parametrize("fmt", ["sym_int4", "fp6", "fp8_e5m2"])
def test_fp16_pair_gemv_does_not_overflow_at_the_fp16_limit(fmt):
    """Activations near fp16's largest value (60000): the pre-scale keeps every fp16 partial sum finite.
    Weights of magnitude about 1, so the exact result is about 60000 * sqrt(K) / 2: stored in float32."""
    gen = torch.Generator().manual_seed(7)
    n, k = 16, 256
    tensors = quantize(torch.randn(n, k, generator=gen), fmt)
    x = (torch.sign(torch.randn(1, k, generator=gen)) * 60000.0).half()
    ref = reference(x.float(), tensors, fmt)
    y = gemv.lowbit_gemv(x, tensors, fmt, BN=16, BK=128, SPLIT_K=1, H16=True, num_warps=2, num_stages=2,
                         out=poisoned(1, n))
    assert torch.isfinite(y).all()
    assert rel_err(y, ref) < H16_BOUND


@pytest.mark.parametrize("magnitude", [1e-3, 3.0, 3e3])
def test_fp16_pair_fp6_keeps_its_accuracy_at_any_activation_scale(magnitude):
    """fp6 codes come out of the fp16-pair decode 2^12 too small; the per-block power of two on the
    activations keeps the products normal fp16 numbers whatever the activations' magnitude, so the
    error bound is the same at 1e-3 as at 3e3 (one block quiet, one loud: the scale is per block)."""
    gen = torch.Generator().manual_seed(zlib.crc32(f"fp6scale{magnitude}".encode()))
    n, k = 24, 256
    tensors = quantize(torch.randn(n, k, generator=gen), "fp6")
    x = torch.randn(1, k, generator=gen) * magnitude
    x[:, 64:128] *= 1e-2
    x = x.half()
    ref = reference(x.float(), tensors, "fp6")
    y = gemv.lowbit_gemv(x, tensors, "fp6", BN=8, BK=128, SPLIT_K=1, H16=True, num_warps=2, num_stages=2,
                         out=poisoned(1, n))
    assert rel_err(y, ref) < H16_BOUND, magnitude


def test_fp16_pair_entry_falls_back_for_other_activations():
    """An ``H16`` table entry (tuned with fp16 activations) names no tile of another kernel: bf16 /
    float32 activations and formats it does not take get the device's heuristic GEMV instead."""
    cfg = {"H16": True, "BN": 32, "BK": 512, "SPLIT_K": 1, "num_warps": 4, "num_stages": 2}
    pvc = INTEL_TARGETS["pvc"]
    for fmt in ("sym_int4", "asym_int4", "fp6", "sym_int8", "fp8_e4m3", "fp8_e5m2"):
        half = gemv.gemv_launch(get_format(fmt), 1, 4096, 4096, cfg, pvc, x_dtype=torch.float16)
        assert half.function == "_lowbit_gemv_h16_kernel" and half.grid == (128, 1, 1)
    for fmt, dtype in (("sym_int4", torch.bfloat16), ("fp8_e4m3", torch.float32), ("nf4", torch.float16)):
        other = gemv.gemv_launch(get_format(fmt), 1, 4096, 4096, cfg, pvc, x_dtype=dtype)
        assert other.function == "_lowbit_gemv_kernel" and other.constexprs["BN"] in gemv.GEMV_SAFE_ROWS
    gen = torch.Generator().manual_seed(3)
    tensors = quantize(torch.randn(40, 256, generator=gen), "sym_int4")
    x = torch.randn(1, 256, generator=gen).to(torch.bfloat16)
    y = gemv.lowbit_gemv(x, tensors, "sym_int4", H16=True, BN=32, BK=128, SPLIT_K=1, num_warps=2, num_stages=2,
                         out=poisoned(1, 40))
    assert_all_written(y)
    assert rel_err(y, reference(x.float(), tensors, "sym_int4")) < REL_BOUND


def test_split_k_leaves_its_workspace_zeroed_and_writes_the_output_dtype():
    """Split-K GEMVs sum into the device's fp32 workspace, the last split writes ``y`` (here fp16, the
    activations' dtype) and empties the workspace and its counters: every kernel and split count
    gives the reference twice in a row (a leftover would double the second result) and leaves zeros."""
    gen = torch.Generator().manual_seed(11)
    n, k = 40, 512
    tensors = quantize(torch.randn(n, k, generator=gen), "sym_int4")
    x = torch.randn(1, k, generator=gen).half()
    ref = reference(x.float(), tensors, "sym_int4")
    for kind in ({}, {"PAIRS": True}, {"W4": True}, {"H16": True}):
        for split_k in (2, 4):
            for _ in range(2):
                y = gemv.lowbit_gemv(x, tensors, "sym_int4", BN=16, BK=64, SPLIT_K=split_k, num_warps=2,
                                     num_stages=2, **kind)
                assert y.dtype == torch.float16
                assert rel_err(y, ref) < H16_BOUND, (kind, split_k)
            ws, counts = gemv.split_workspace(x.device, 1, 1)
            assert not ws.any() and not counts.any(), (kind, split_k)
