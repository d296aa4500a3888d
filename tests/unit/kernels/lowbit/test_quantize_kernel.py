"""Triton quantize kernel under TRITON_INTERPRET=1: bit-identical to the torch reference quantizer.

Codes must be bit-identical and scales/mins equal to ``reference.quantize``
on the same input, including the blocks that exercise each rounding rule: all-zero blocks,
values far below the smallest step, ties between fp8/fp6 grid points, values beyond the
format's range, negative zeros, the largest magnitude appearing with both signs (sym_int4
keeps the first), fp16/bf16/fp32 inputs, and a column count that leaves a partial tile.
"""

from __future__ import annotations

import zlib

import pytest
import torch

from tests.triton_interpreter import import_interpreted, interpreter_env  # noqa: F401
from vllm_ipex_plugin.kernels.lowbit.formats import QUANTIZED, get_format
from vllm_ipex_plugin.kernels.lowbit.reference import quantize

lq = import_interpreted("vllm_ipex_plugin.kernels.lowbit.quantize_kernel")

pytestmark = pytest.mark.usefixtures("interpreter_env")
FORMATS = [spec.name for spec in QUANTIZED]


def _edge_weight(gen: torch.Generator) -> torch.Tensor:
    w = torch.randn(24, 320, generator=gen)  # 5 blocks of 64: the last program has a partial tile
    w[0, :64] = 0.0
    w[1, :64] *= 1e-30  # far below every step
    w[2, :64] = 3.0
    w[2, 7] = -3.0  # largest magnitude with both signs
    w[3, :64] = torch.tensor([-0.0, 0.0]).repeat(32)
    w[4, :64] = torch.linspace(-65000.0, 65000.0, 64)  # beyond e5m2's range, finite in fp16
    # exact midpoints between neighbouring fp8/fp6 grid values, scaled so the block max hits
    # the format's maximum: ties must go to the even code like torch's casts
    ticks = torch.arange(64, dtype=torch.float32)
    w[5, :64] = (1.0 + (2 * ticks + 1) / 16.0) * 2.0 ** -3
    w[5, 63] = 448.0
    w[6, :64] = (1.0 + (2 * ticks % 8 + 1) / 8.0) * 2.0 ** (ticks % 4 - 2)
    w[6, 63] = 28.0
    w[7, :64] = 2.0 ** -17 * ticks  # e5m2 subnormals and their midpoints
    return w


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_quantize_kernel_equals_reference(fmt, dtype):
    gen = torch.Generator().manual_seed(zlib.crc32(f"{fmt}{dtype}".encode()))
    w = _edge_weight(gen).to(dtype)
    ref = quantize(w, fmt)
    out = lq.lowbit_quantize(w, fmt)
    assert out.keys() == ref.keys()
    for name, expected in ref.items():
        got = out[name]
        assert got.dtype == expected.dtype and got.shape == expected.shape, name
        if got.is_floating_point():  # scales, mins: equal as numbers (an all-zero block's min may be -0.0)
            same = (got == expected) | (got.isnan() & expected.isnan())
        else:
            same = got == expected
        assert same.all(), f"{fmt} {name}: {(~same).sum().item()} elements differ"


def test_quantize_kernel_refuses_bad_input():
    with pytest.raises(ValueError, match="not a multiple of 64"):
        lq.lowbit_quantize(torch.zeros(4, 96), "sym_int4")
    with pytest.raises(ValueError, match="not a quantized format"):
        lq.lowbit_quantize(torch.zeros(4, 64), "fp16")


def test_launch_turns_contraction_off_on_cuda_only():
    from vllm_ipex_plugin.kernels.common.device import CPU_FACTS, INTEL_TARGETS, DeviceFacts

    h100 = DeviceFacts("NVIDIA H100 80GB HBM3", "cuda", "sm90", 132, cuda_capability=(9, 0))
    spec = get_format("fp6")
    assert lq.quantize_launch(spec, 24, 320, h100).options == {"enable_fp_fusion": False}
    launch = lq.quantize_launch(spec, 24, 320, INTEL_TARGETS["dg2"])
    # Intel: contraction left to the backend; the architecture's warps and register mode
    assert "enable_fp_fusion" not in launch.options
    assert launch.options == {"grf_mode": "large", "threads_per_warp": 16} and launch.num_warps == 8
    assert launch.constexprs == {"FMT": 3, "BN": 16, "G": 2, "QMAX": 28.0}
    assert lq.quantize_launch(spec, 24, 320, INTEL_TARGETS["pvc"]).options == {"grf_mode": "small"}
    cpu = lq.quantize_launch(spec, 24, 320, CPU_FACTS)
    assert launch.grid == (2, 3) and cpu.num_warps == 4 and cpu.options == {}
