"""Optional kernel packages: whether they are installed, without importing them.

``vllm-xpu-kernels`` (the kernels stock vLLM uses on Intel GPUs; Xe2 / PVC) is a fast path for
attention (``attention.providers``) and the low-bit GEMMs (``kernels.lowbit.onednn``), never a
requirement. Its native libraries load only beside an XPU build of torch, so the check is a
module lookup, not an import.

Imports the standard library only.
"""

from __future__ import annotations

import importlib.util

XPU_KERNELS_PACKAGE = "vllm_xpu_kernels"


def xpu_kernels_installed() -> bool:
    return importlib.util.find_spec(XPU_KERNELS_PACKAGE) is not None
