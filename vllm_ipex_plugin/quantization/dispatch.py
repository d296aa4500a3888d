"""Low-bit kernel dispatch: vllm-xpu-kernels' oneDNN GEMMs on Intel GPUs where that optional
package is installed and takes the layer exactly, Triton kernels where Triton compiles (XPU,
CUDA), torch elsewhere.

``IPEX_PLUGIN_LOWBIT_KERNEL`` = ``auto`` (default) | ``xpu_kernels`` | ``triton`` | ``torch``
overrides it. The choice is made once per layer, when its weights are processed
(:func:`layer_kernel`): the per-call path reads no environment and looks no name up.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from vllm_ipex_plugin import envs
from vllm_ipex_plugin.kernels.common.optional import xpu_kernels_installed
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


def use_xpu_kernels(device: torch.device) -> bool:
    """Whether layers on ``device`` try vllm-xpu-kernels' oneDNN GEMMs first: by default where
    the package is installed on an Intel GPU; ``xpu_kernels`` insists (and says what is missing)."""
    choice = envs.lowbit_kernel()
    if choice in ("torch", "triton"):
        return False
    installed = xpu_kernels_installed()
    if choice == "xpu_kernels":
        if device.type != "xpu" or not installed:
            missing = "an Intel GPU" if device.type != "xpu" else "the optional package vllm-xpu-kernels"
            raise ValueError(
                f"{envs.LOWBIT_KERNEL}=xpu_kernels needs {missing} (this layer is on {device.type}); "
                "use auto, triton or torch."
            )
        return True
    return device.type == "xpu" and installed


def layer_kernel(fmt: str, tensors: dict[str, torch.Tensor],
                 act_dtype: torch.dtype) -> tuple[dict[str, torch.Tensor], LayerMatmul]:
    """The tensors one layer keeps and the matmul it runs on them (on their device), decided once:
    vllm-xpu-kernels' oneDNN GEMM for what it takes exactly (``kernels.lowbit.onednn``: its own
    layout replaces the plugin's), else the Triton kernels, else the torch reference."""
    spec = get_format(fmt)
    if not spec.quantized:
        return tensors, _unquantized
    device = tensors[spec.payload].device
    if use_xpu_kernels(device):
        from vllm_ipex_plugin.kernels.lowbit.onednn import onednn_layer

        on_onednn = onednn_layer(spec, tensors, act_dtype)
        if on_onednn is not None:
            return on_onednn
    return tensors, layer_matmul(fmt, tensors)


def layer_matmul(fmt: str, tensors: dict[str, torch.Tensor]) -> LayerMatmul:
    """The plugin's own matmul for a layer's stored ``tensors`` (on their device): Triton where it
    compiles, the torch reference elsewhere."""
    spec = get_format(fmt)
    if not spec.quantized:
        return _unquantized
    device = tensors[spec.payload].device
    if use_triton(device):
        from vllm_ipex_plugin.kernels.lowbit.matmul import LowBitMatmul

        return LowBitMatmul(spec, tensors)
    return functools.partial(_reference, spec)
