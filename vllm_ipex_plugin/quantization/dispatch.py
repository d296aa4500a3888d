"""Low-bit kernel dispatch: Triton kernels where Triton compiles (XPU, CUDA), torch elsewhere.

``IPEX_PLUGIN_LOWBIT_KERNEL`` = ``auto`` (default) | ``triton`` | ``torch`` overrides it. The
choice is made once per layer, when its weights are processed (:func:`layer_matmul`): the
per-call path reads no environment and looks no name up.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from vllm_ipex_plugin import envs
from vllm_ipex_plugin.kernels.lowbit import reference
from vllm_ipex_plugin.kernels.lowbit.formats import LowBitFormat, get_format

# (x, stored tensors, bias) -> y
LayerMatmul = Callable[[torch.Tensor, dict[str, torch.Tensor], torch.Tensor | None], torch.Tensor]


@functools.cache
def _triton_usable(device_type: str) -> bool:
    if device_type not in ("xpu", "cuda"):
        return False
    try:
        from vllm_ipex_plugin.kernels.lowbit import matmul  # noqa: F401
    except Exception:  # no Triton for this device: stay on the reference path
        return False
    return True


def use_triton(device: torch.device) -> bool:
    choice = envs.lowbit_kernel()
    if choice == "torch":
        return False
    if choice == "triton":
        return True
    return _triton_usable(device.type)


def quantize_weight(weight: torch.Tensor, fmt: str) -> dict[str, torch.Tensor]:
    """Quantize one weight on its own device, in the storage layout (Triton kernel or torch ops)."""
    if get_format(fmt).quantized and use_triton(weight.device):
        from vllm_ipex_plugin.kernels.lowbit.quantize_kernel import lowbit_quantize

        return lowbit_quantize(weight, fmt)
    return reference.quantize(weight, fmt)


def _unquantized(x: torch.Tensor, tensors: dict[str, torch.Tensor], bias: torch.Tensor | None) -> torch.Tensor:
    # fp16 / bf16: no float32 round trip per call
    return torch.nn.functional.linear(x, tensors["weight"].to(x.dtype), bias)


def _reference(spec: LowBitFormat, x: torch.Tensor, tensors: dict[str, torch.Tensor],
               bias: torch.Tensor | None) -> torch.Tensor:
    return reference.lowbit_linear(x, tensors, spec, bias)


def layer_matmul(fmt: str, tensors: dict[str, torch.Tensor]) -> LayerMatmul:
    """The matmul one layer runs for its stored ``tensors`` (on their device), decided once."""
    spec = get_format(fmt)
    if not spec.quantized:
        return _unquantized
    device = tensors[spec.payload].device
    if use_triton(device):
        from vllm_ipex_plugin.kernels.lowbit.matmul import LowBitMatmul

        return LowBitMatmul(spec, tensors)
    return functools.partial(_reference, spec)

