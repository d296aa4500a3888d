"""Low-bit layers through vllm-xpu-kernels' oneDNN GEMMs (optional, Intel GPUs with that package).

:func:`onednn_layer` converts a layer's ``ipex_low_bit`` tensors to the operands of
``torch.ops._xpu_C.int4_gemm_w4a16`` or ``fp8_gemm_w8a16`` (``onednn_layout``) and returns them
with the matmul that calls the op, or None where the op would not compute the same weights;
such layers keep the Triton kernels. The converted tensors replace the plugin's own (the
layer holds one copy of its weight). Not run on an Intel GPU here.

Imports torch and the ``lowbit`` layout modules; the package itself only when a layer is converted.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from vllm_ipex_plugin.kernels.lowbit.formats import LowBitFormat
from vllm_ipex_plugin.kernels.lowbit.onednn_layout import to_onednn_fp8, to_onednn_int4

# (x, stored tensors, bias) -> y
LayerMatmul = Callable[[torch.Tensor, dict[str, torch.Tensor], torch.Tensor | None], torch.Tensor]


def _xpu_ops():
    """``torch.ops._xpu_C``, its library loaded (as vLLM's XPU platform loads it)."""
    import vllm_xpu_kernels._xpu_C  # noqa: F401

    return torch.ops._xpu_C


class OnednnInt4Matmul:
    """``y = x @ W^T`` through ``int4_gemm_w4a16`` (``W = (code - zero) * scale`` per group)."""

    def __init__(self, group_size: int) -> None:
        self.group_size = group_size
        self._gemm = _xpu_ops().int4_gemm_w4a16

    def __call__(self, x: torch.Tensor, tensors: dict[str, torch.Tensor], bias: torch.Tensor | None) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        y = self._gemm(rows, tensors["qweight"], bias, tensors["scales"], tensors["zeros"], self.group_size, None)
        return y.reshape(*x.shape[:-1], y.shape[-1])


class OnednnFp8Matmul:
    """``y = x @ W^T`` through ``fp8_gemm_w8a16`` (fp8_e5m2 weights, no scale)."""

    def __init__(self) -> None:
        self._gemm = _xpu_ops().fp8_gemm_w8a16

    def __call__(self, x: torch.Tensor, tensors: dict[str, torch.Tensor], bias: torch.Tensor | None) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        y = self._gemm(rows, tensors["weight_kn"], None, bias)
        return y.reshape(*x.shape[:-1], y.shape[-1])


def onednn_tensors(spec: LowBitFormat, tensors: dict[str, torch.Tensor],
                   act_dtype: torch.dtype) -> tuple[dict[str, torch.Tensor], int | None] | None:
    """The converted tensors (and the int4 group size; None for fp8), or None where the ops do
    not take this layer exactly. Needs no Intel GPU: what the selection tests check."""
    int4 = to_onednn_int4(tensors, spec, act_dtype)
    if int4 is not None:
        return {"qweight": int4.qweight, "scales": int4.scales, "zeros": int4.zeros}, int4.group_size
    fp8 = to_onednn_fp8(tensors, spec)
    if fp8 is not None and act_dtype in (torch.float16, torch.bfloat16):
        return {"weight_kn": fp8}, None
    return None


def onednn_layer(spec: LowBitFormat, tensors: dict[str, torch.Tensor],
                 act_dtype: torch.dtype) -> tuple[dict[str, torch.Tensor], LayerMatmul] | None:
    """The layer's tensors and matmul on the oneDNN ops, or None (keep the Triton kernels)."""
    converted = onednn_tensors(spec, tensors, act_dtype)
    if converted is None:
        return None
    new_tensors, group_size = converted
    return new_tensors, (OnednnInt4Matmul(group_size) if group_size is not None else OnednnFp8Matmul())
