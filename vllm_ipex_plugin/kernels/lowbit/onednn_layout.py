"""``ipex_low_bit`` tensors in the layouts of vllm-xpu-kernels' oneDNN weight-only GEMMs.

The optional ``vllm-xpu-kernels`` package (Xe2 / PVC) registers, in ``torch.ops._xpu_C``
(schemas of its 0.1.16 wheel):

- ``int4_gemm_w4a16(Tensor A, Tensor B, Tensor? bias, Tensor B_scale, Tensor B_zp, int group_size,
  Tensor? g_idx) -> Tensor``. ``B``: int32 ``[K/8, N]`` whose row ``r`` holds inputs ``8r .. 8r+7``
  in nibbles 0..7 (low bits first), stored contiguous along K (strides ``(1, K/8)``); ``B_scale``:
  ``[K/group, N]`` in the activations' dtype; ``B_zp``: int8 ``[8]`` (one value, broadcast) for
  symmetric weights, else int32 ``[K/group, N/8]`` whose column ``c`` holds outputs ``8c .. 8c+7``'s
  zero points in nibbles 0..7. Weight ``w[k, n] = (code - zp) * scale`` (the package's own
  reference, ``vllm_xpu_kernels.quantization._quantize_convert.dequantize``).
- ``fp8_gemm_w8a16(Tensor A, Tensor B, Tensor? B_scale, Tensor? bias) -> Tensor``: ``B`` fp8
  ``[K, N]`` (vLLM passes the transposed view of an ``[N, K]`` weight), ``B_scale`` none, one or
  one per output.

Only what these take exactly is converted: sym_int4 for fp16 activations (its scales are fp16),
asym_int4 whose mins are integer zero points times the scale (what AWQ / GPTQ checkpoints
convert to; mins the plugin's own quantizer chose are not), and fp8_e5m2 (no scale). Other
formats and dtypes keep the Triton kernels. No Intel GPU has run these ops here: the tests
unpack the converted tensors with the plugin's GPTQ reader (whose layout the int4 op shares:
``qweight`` and ``qzeros`` of GPTQ, zero points without GPTQ's offset) and compare the weights
with the plugin's own dequantization.

Imports torch and ``formats`` only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vllm_ipex_plugin.kernels.lowbit.formats import LowBitFormat

SYMMETRIC_ZERO = 8  # sym_int4's code offset: ``(q - 8) * d``


@dataclass(frozen=True)
class OnednnInt4:
    """``int4_gemm_w4a16``'s weight operands for one layer."""

    qweight: torch.Tensor  # int32 [K/8, N], contiguous along K
    scales: torch.Tensor  # [K/group, N], the activations' dtype
    zeros: torch.Tensor  # int8 [1] (symmetric) or int32 [K/group, N/8]
    group_size: int


def _pack_rows(values: torch.Tensor) -> torch.Tensor:
    """``[R, C]`` 4-bit values -> int32 ``[R, C/8]``: value ``8c + j`` of a row in nibble ``j`` of word ``c``."""
    rows, cols = values.shape
    parts = values.to(torch.int32).view(rows, cols // 8, 8)
    words = parts[..., 0].clone()
    for j in range(1, 8):
        words |= parts[..., j] << (4 * j)
    return words


def pack_codes_along_k(codes: torch.Tensor) -> torch.Tensor:
    """4-bit codes ``[N, K]`` (values 0..15) -> int32 ``[K/8, N]``, eight inputs per word, the
    storage contiguous along K."""
    return _pack_rows(codes).t()


def pack_zeros_along_n(zeros: torch.Tensor) -> torch.Tensor:
    """Zero points ``[groups, N]`` (0..15) -> int32 ``[groups, N/8]``, eight outputs per word."""
    return _pack_rows(zeros)


def integer_zero_points(scales: torch.Tensor, mins: torch.Tensor) -> torch.Tensor | None:
    """``z`` with ``mins == -z * scales`` (as the AWQ / GPTQ conversion computed them) for every
    block, ``0 <= z <= 15``; None if any block's min is not such a product."""
    s, m = scales.float(), mins.float()
    z = torch.round(-m / torch.where(s == 0, 1.0, s))
    z = torch.where(s == 0, 0.0, z)
    exact = (z >= 0) & (z <= 15) & ((-(z * s)).to(mins.dtype) == mins)
    return z.to(torch.uint8) if bool(exact.all()) else None


def _codes(qweight: torch.Tensor) -> torch.Tensor:
    """The plugin's nibble payload ``[N, K/2]`` (byte ``j``: column ``2j`` low, ``2j+1`` high) as codes ``[N, K]``."""
    return torch.stack((qweight & 0xF, qweight >> 4), dim=-1).reshape(qweight.shape[0], -1)


def to_onednn_int4(tensors: dict[str, torch.Tensor], spec: LowBitFormat,
                   act_dtype: torch.dtype) -> OnednnInt4 | None:
    """``int4_gemm_w4a16``'s operands for a sym_int4 or asym_int4 layer, or None where the op
    would not compute the same weights (another format, bf16 activations with fp16 scales,
    asym mins that are not integer zero points, N not a multiple of 8)."""
    if spec.name not in ("sym_int4", "asym_int4"):
        return None
    scales = tensors["scales"]
    n, blocks = scales.shape
    k = tensors["qweight"].shape[1] * 2
    if act_dtype != torch.float16 or n % 8 or k % blocks:
        return None
    if spec.name == "sym_int4":
        zeros = torch.full((1,), SYMMETRIC_ZERO, dtype=torch.int8, device=scales.device)
    else:
        z = integer_zero_points(scales, tensors["mins"])
        if z is None:
            return None
        zeros = pack_zeros_along_n(z.t())
    return OnednnInt4(pack_codes_along_k(_codes(tensors["qweight"])), scales.t().contiguous().to(act_dtype),
                      zeros, k // blocks)


def to_onednn_fp8(tensors: dict[str, torch.Tensor], spec: LowBitFormat) -> torch.Tensor | None:
    """``fp8_gemm_w8a16``'s ``B`` (``[K, N]``, a view of the stored ``[N, K]`` bytes) for an
    fp8_e5m2 layer; None for other formats (fp8_e4m3's per-block scales are not per output)."""
    if spec.name != "fp8_e5m2":
        return None
    return tensors["qweight"].view(torch.float8_e5m2).t()

