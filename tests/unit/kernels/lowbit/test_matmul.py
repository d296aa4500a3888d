"""Dispatch (path, config, kernel) under TRITON_INTERPRET=1: results, planning once per bucket,
and ``plan_launches`` giving what a layer launches, for this device or an Intel target."""

from __future__ import annotations

import pytest
import torch

from tests.triton_interpreter import interpreter_env  # noqa: F401
from tests.unit.kernels.lowbit.checks import (
    REL_BOUND,
    assert_all_written,
    g32_asym_int4,
    gemm,
    gemv,
    matmul,
    poisoned,
    reference,
    rel_err,
)
from vllm_ipex_plugin.kernels.common.device import CPU_FACTS, INTEL_TARGETS
from vllm_ipex_plugin.kernels.lowbit.formats import QUANTIZED
from vllm_ipex_plugin.kernels.lowbit.reference import quantize
from vllm_ipex_plugin.kernels.lowbit.tuning import table

pytestmark = pytest.mark.usefixtures("interpreter_env")


@pytest.mark.parametrize("m", [1, 5])
def test_asym_int4_with_32_column_blocks(m):
    """asym_int4 converted from group-size-32 AWQ/GPTQ: one scale and min per 32 columns."""
    gen = torch.Generator().manual_seed(32 + m)
    tensors = g32_asym_int4(gen)
    n, k = tensors["qweight"].shape[0], tensors["qweight"].shape[1] * 2
    x = torch.randn(m, k, generator=gen)
    ref = reference(x, tensors, "asym_int4")
    for launch in (gemv.lowbit_gemv, gemm.lowbit_gemm):
        y = launch(x, tensors, "asym_int4", BN=16, BK=128, SPLIT_K=2, out=poisoned(m, n))
        assert_all_written(y)
        assert rel_err(y, ref) < REL_BOUND, launch.__name__
    assert rel_err(matmul.lowbit_matmul(x, tensors, "asym_int4"), ref) < REL_BOUND


@pytest.mark.parametrize("fmt", ["sym_int4", "fp8_e4m3"])
def test_dispatch_by_batch_size(fmt, monkeypatch, cache_dir):
    gen = torch.Generator().manual_seed(7)
    tensors = quantize(torch.randn(64, 128, generator=gen), fmt)
    monkeypatch.setattr(table, "DENSE_MIN_M", 8)
    kernels = []
    for m in (1, 4, 9):  # GEMV, Triton GEMM, dequantize + dense
        x = torch.randn(1, m, 128, generator=gen)  # 3-D input, flattened by the dispatch
        y = matmul.lowbit_matmul(x, tensors, fmt)
        assert y.shape == (1, m, 64)
        assert rel_err(y.reshape(-1, 64), reference(x.reshape(-1, 128), tensors, fmt)) < REL_BOUND
        kernels.append(matmul.plan_launches(fmt, m, 64, 128, CPU_FACTS, x_dtype=x.dtype)[0].function)
    assert kernels == ["_lowbit_gemv_kernel", "_lowbit_gemm_kernel", "_lowbit_dequant_kernel"]


def test_layer_plans_once_per_bucket_and_launches_what_plan_launches_says(cache_dir):
    gen = torch.Generator().manual_seed(3)
    tensors = quantize(torch.randn(96, 256, generator=gen), "asym_int4")
    bias = torch.randn(96, generator=gen)
    layer = matmul.LowBitMatmul("asym_int4", tensors)
    for m in (1, 5, 12):  # 5 and 12: one GEMM bucket (16)
        x = torch.randn(m, 256, generator=gen)
        assert rel_err(layer(x, tensors, bias), reference(x, tensors, "asym_int4", bias)) < REL_BOUND
        if m == 5:
            lookups = table.lookup.cache_info()
    assert table.lookup.cache_info() == lookups  # the second batch of the bucket looked nothing up
    (gemv_launch,) = layer._gemv.values()
    (bucket,) = layer._buckets.values()
    planned_gemv = matmul.plan_launches("asym_int4", 1, 96, 256, CPU_FACTS, x_dtype=torch.float32, bias=True)
    planned_gemm = matmul.plan_launches("asym_int4", 16, 96, 256, CPU_FACTS, bias=True)
    assert planned_gemv == [gemv_launch] and planned_gemm == [bucket.gemm]


def test_tuned_entries_steer_the_plan(cache_dir):
    pvc = INTEL_TARGETS["pvc"]
    gemv = {"PAIRS": True, "BN": 4, "BK": 512, "SPLIT_K": 2, "num_warps": 8, "num_stages": 2}
    table.save_entries(pvc, {table.entry_key("gemv", "sym_int4", 1, 4096, 4096): gemv,
                             table.entry_key("gemm", "sym_int4", 16, 4096, 4096): {"path": "dense"}})
    (launch,) = matmul.plan_launches("sym_int4", 1, 4096, 4096, pvc, x_dtype=torch.bfloat16)
    assert launch.function == "_lowbit_gemv_pairs_kernel" and launch.num_warps == 8
    assert launch.constexprs == {"FMT": 0, "HAS_BIAS": False, "BN": 4, "BK": 512, "SPLIT_K": 2, "QB": 64,
                                 "X_KIND": 2}
    assert matmul.plan_launches("sym_int4", 9, 4096, 4096, pvc)[0].function == "_lowbit_dequant_kernel"
    # other Intel targets have no entry: heuristics, split K until the grid covers their Xe cores
    assert matmul.plan_launches("sym_int4", 9, 4096, 4096, INTEL_TARGETS["bmg"])[0].function == "_lowbit_gemm_kernel"


@pytest.mark.parametrize("arch", sorted(INTEL_TARGETS))
def test_every_format_plans_on_every_intel_target(arch):
    facts = INTEL_TARGETS[arch]
    for spec in QUANTIZED:
        for m in (1, 16, 128, 4096):
            (launch,) = matmul.plan_launches(spec, m, 4096, 14336, facts)
            assert launch.constexprs["FMT"] == spec.id
            if spec.dense_only and m > 1:
                assert launch.function == "_lowbit_dequant_kernel"


@pytest.mark.parametrize("arch", sorted(INTEL_TARGETS))
def test_fused_gemm_reads_activations_through_block_pointers_where_2d_block_io_exists(arch):
    """PVC and BMG plan the block-pointer activation read for their plain GEMM tiles (DG2 has no 2D
    block IO); CUDA and the CPU never do, and the one spilling tile keeps plain loads."""
    facts = INTEL_TARGETS[arch]
    for spec in QUANTIZED:
        for m in (16, 64, 128):
            (launch,) = matmul.plan_launches(spec, m, 4096, 14336, facts)
            if launch.function != "_lowbit_gemm_kernel":
                continue
            c = launch.constexprs
            expected = arch in ("pvc", "bmg") and (spec.name, c["BM"], c["BN"]) != ("fp6", 128, 128)
            assert c["X_BLOCK_IO"] is expected, (spec.name, m, c)


@pytest.mark.parametrize("version, has", [("3.3.0b1", True), ("3.6.0", True), ("3.7.2+xpu", True),
                                           ("3.9.0", False), ("3.10.1", False), ("4.0.0", False)])
def test_block_pointers_are_known_gone_from_triton_3_9(version, has):
    from vllm_ipex_plugin.kernels.common.device import triton_has_block_pointers

    assert triton_has_block_pointers(version) is has
