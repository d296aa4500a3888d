"""Low-bit kernel dispatch: Triton kernels where Triton compiles (XPU, CUDA), torch elsewhere.

``IPEX_PLUGIN_LOWBIT_KERNEL`` = ``auto`` (default) | ``triton`` | ``torch`` overrides it.
"""

from __future__ import annotations

import functools
import os

import torch

from vllm_ipex_plugin.kernels import lowbit_reference
from vllm_ipex_plugin.kernels.lowbit_formats import get_format

KERNEL_ENV = "IPEX_PLUGIN_LOWBIT_KERNEL"


@functools.cache
def _triton_usable(device_type: str) -> bool:
    if device_type not in ("xpu", "cuda"):
        return False
    try:
        from vllm_ipex_plugin.kernels import lowbit_triton  # noqa: F401
    except Exception:  # no Triton for this device: stay on the reference path
        return False
    return True


def use_triton(device: torch.device) -> bool:
    choice = os.environ.get(KERNEL_ENV, "auto").strip().lower()
    if choice == "torch":
        return False
    if choice == "triton":
        return True
    return _triton_usable(device.type)


def quantize_weight(weight: torch.Tensor, fmt: str) -> dict[str, torch.Tensor]:
    """Quantize one weight on its own device, in the storage layout (Triton kernel or torch ops)."""
    if get_format(fmt).quantized and use_triton(weight.device):
        from vllm_ipex_plugin.kernels.lowbit_quantize_triton import lowbit_quantize

        return lowbit_quantize(weight, fmt)
    return lowbit_reference.quantize(weight, fmt)


def lowbit_linear(
    x: torch.Tensor, tensors: dict[str, torch.Tensor], fmt: str, bias: torch.Tensor | None
) -> torch.Tensor:
    if not get_format(fmt).quantized:  # fp16 / bf16: no float32 round trip per call
        return torch.nn.functional.linear(x, tensors["weight"].to(x.dtype), bias)
    if use_triton(x.device):
        from vllm_ipex_plugin.kernels.lowbit_triton import lowbit_matmul

        return lowbit_matmul(x, tensors, fmt, bias)
    return lowbit_reference.lowbit_linear(x, tensors, fmt, bias)
