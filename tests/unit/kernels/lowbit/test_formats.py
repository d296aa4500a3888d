"""Every ipex_low_bit format against its definition on hand-made blocks, and error bounds.

Definitions (IPEX-LLM's, see docs/low_bit_formats.md): blocks of 64 along the input
dimension; sym_int4 d = signed absmax / -8, q = floor(x/d + 8.5) clamped to 0..15;
asym_int4 d = (max - min)/15, m = min, q = floor((x - m)/d + 0.5); sym_int8 d = absmax/127,
round half away from zero; nf4 scale = absmax, nearest NF4 code; fp8_e4m3 scale =
absmax/448; fp8_e5m2 no scale, saturating; fp6 (e3m2, max 28) scale = absmax/28. fp8 and
fp6 round to nearest even (IPEX-LLM truncates).
"""

from __future__ import annotations

import pytest
import torch

from vllm_ipex_plugin.kernels.lowbit.formats import BY_ID, FORMATS, LAST_NIBBLE, FormatId, canonical_name, get_format
from vllm_ipex_plugin.kernels.lowbit.reference import dequantize, fp6_grid, quantize

ALL = sorted(FORMATS)
# Relative Frobenius error bounds on N(0,1) weights (measured: 0.095, 0.090, 0.092,
# 0.0060, 0.025, 0.053, 0.050, 2e-4, 1.7e-3).
RANDOM_BOUND = {
    "sym_int4": 0.11, "asym_int4": 0.10, "nf4": 0.10, "sym_int8": 0.007, "fp8_e4m3": 0.03,
    "fp8_e5m2": 0.06, "fp6": 0.055, "fp16": 3e-4, "bf16": 2.5e-3,
}


def roundtrip(block: torch.Tensor, fmt: str) -> torch.Tensor:
    return dequantize(quantize(block.reshape(1, -1), fmt), fmt).reshape(-1)


@pytest.mark.parametrize("fmt", ALL)
def test_all_zero_block(fmt):
    assert roundtrip(torch.zeros(64), fmt).eq(0).all()


@pytest.mark.parametrize("fmt", ALL)
def test_bits_per_weight_and_shapes(fmt):
    w = torch.randn(8, 192)
    t = quantize(w, fmt)
    shapes = get_format(fmt).tensor_shapes(8, 192)
    assert {k: (tuple(v.shape), v.dtype) for k, v in t.items()} == shapes
    bits = sum(v.numel() * v.element_size() for v in t.values()) * 8 / w.numel()
    assert bits == get_format(fmt).bits_per_weight


def test_spec_table_is_consistent():
    assert set(BY_ID) == set(FormatId) and all(BY_ID[spec.id] is spec for spec in FORMATS.values())
    for spec in FORMATS.values():
        (n, cols), _ = spec.tensor_shapes(8, 128)[spec.payload]
        assert n == 8 and cols * spec.codes_per_byte == 128, spec.name
        assert (spec.codes_per_byte == 2) == (spec.quantized and spec.id <= LAST_NIBBLE), spec.name
        assert not (spec.paired_gemv and spec.codes_per_byte != 2), spec.name  # the paired GEMV reads nibbles
    assert get_format(FORMATS["nf4"]) is FORMATS["nf4"] and get_format("woq_int4") is FORMATS["sym_int4"]


def test_sym_int4_negative_absmax_and_outlier():
    x = torch.zeros(64)
    x[0], x[1], x[2], x[3] = -4.0, 3.9, 1.3, 0.24
    # d = -4 / -8 = 0.5: -4 -> q 0 -> -4 exactly; 3.9 -> q 16 clamped to 15 -> 3.5;
    # 1.3 -> floor(2.6 + 8.5) = 11 -> 1.5; 0.24 -> floor(0.48 + 8.5) = 8 -> 0.
    got = roundtrip(x, "sym_int4")
    assert got[:4].tolist() == [-4.0, 3.5, 1.5, 0.0]
    assert got[4:].eq(0).all()


def test_sym_int4_positive_absmax():
    x = torch.full((64,), 0.5)
    x[5] = 8.0  # d = -1: 8 -> floor(-8 + 8.5) = 0 -> (0 - 8) * -1 = 8
    got = roundtrip(x, "sym_int4")
    assert got[5].item() == 8.0 and got[0].item() == 0.0  # 0.5 -> floor(8) = 8 -> 0


def test_woq_int4_is_sym_int4():
    assert canonical_name("woq_int4") == "sym_int4" and canonical_name("fp8") == "fp8_e5m2"


def test_asym_int4_min_and_max_exact():
    x = torch.linspace(-1.0, 2.0, 64)
    t = quantize(x.reshape(1, -1), "asym_int4")
    d, m = t["scales"].float().item(), t["mins"].float().item()
    assert m == -1.0 and d == torch.tensor(3.0 / 15, dtype=torch.float16).item()
    got = roundtrip(x, "asym_int4")
    assert got[0].item() == -1.0
    assert abs(got[-1].item() - (m + 15 * d)) < 1e-6
    assert (got - x).abs().max().item() <= d / 2 + 1e-3


def test_sym_int8_half_away_from_zero():
    x = torch.zeros(64)
    x[0], x[1], x[2] = 127.0, 2.5, -2.5  # d = 1
    got = roundtrip(x, "sym_int8")
    assert got[:3].tolist() == [127.0, 3.0, -3.0]


def test_nf4_codes_exact():
    from vllm_ipex_plugin.kernels.lowbit.reference import NF4_CODE

    x = torch.zeros(64)
    x[:16] = NF4_CODE * 3.0
    got = roundtrip(x, "nf4")
    assert torch.allclose(got[:16], (NF4_CODE * 3.0).to(torch.float32), atol=0, rtol=1e-6)


def test_fp8_e5m2_saturates_and_keeps_subnormals():
    x = torch.zeros(64)
    x[0], x[1], x[2], x[3] = 1e6, -70000.0, 3.0517578125e-05, 1.0 + 2**-3  # tie -> even
    got = roundtrip(x, "fp8_e5m2")
    assert got[0].item() == 57344.0 and got[1].item() == -57344.0
    assert got[2].item() == 2**-15  # e5m2 subnormal (2 * 2**-16), exact
    assert got[3].item() == 1.0  # 1.125 is halfway between 1.0 and 1.25: even mantissa
    assert torch.isfinite(got).all()


def test_fp8_e4m3_round_to_nearest_not_truncate():
    x = torch.zeros(64)
    x[0] = 448.0  # scale 1
    x[1] = 1.0 + 3 * 2**-4  # halfway 1.125 / 1.25: ties to even give 1.25, truncation 1.125
    x[2] = 2**-9  # smallest e4m3 subnormal
    got = roundtrip(x, "fp8_e4m3")
    assert got[:3].tolist() == [448.0, 1.25, 2**-9]


def test_fp6_grid_and_rounding():
    grid = fp6_grid()
    assert grid.max().item() == 28.0 and grid[1].item() == 0.0625 and len(set(grid.tolist())) == 32
    x = torch.zeros(64)
    x[0], x[1], x[2], x[3] = -28.0, 0.0625, 1.125, 26.5  # scale 1
    got = roundtrip(x, "fp6")
    # 1.125: halfway 1.0 / 1.25 -> even code (1.0); 26.5: between 24 and 28 -> 28
    assert got[:4].tolist() == [-28.0, 0.0625, 1.0, 28.0]


@pytest.mark.parametrize("fmt", ALL)
def test_error_bound_random_weights(fmt):
    torch.manual_seed(0)
    w = torch.randn(256, 512)
    err = (dequantize(quantize(w, fmt), fmt) - w).norm() / w.norm()
    assert err.item() < RANDOM_BOUND[fmt]


@pytest.mark.parametrize("fmt", ALL)
def test_error_bound_real_weights(fmt, demo_model_path):
    from safetensors import safe_open

    with safe_open(f"{demo_model_path}/model.safetensors", "pt") as f:
        w = f.get_tensor("model.layers.3.mlp.down_proj.weight")
    err = (dequantize(quantize(w, fmt), fmt) - w).norm() / w.norm()
    # Real weights already sit on a 4-bit grid (Q4_1 source), so 4-bit re-quantization
    # errs a little more than on Gaussian data: 1.2x the random bound.
    assert err.item() < 1.2 * RANDOM_BOUND[fmt]


def test_unknown_format_lists_valid_names():
    with pytest.raises(ValueError, match=r"Unknown ipex_low_bit format 'int3'\. Valid formats: asym_int4, bf16"):
        canonical_name("int3")
