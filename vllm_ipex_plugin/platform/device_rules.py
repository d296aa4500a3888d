"""Pure device rules: which platform to activate and which dtypes a card can run.

Kept free of vLLM and of torch device calls so the rules are unit-testable on a
machine with no Intel GPU.
"""

from __future__ import annotations

import re

import torch

XPU_PLATFORM = "vllm_ipex_plugin.platform.xpu_platform.XpuPlatform"
HOST_PLATFORM = "vllm_ipex_plugin.platform.xpu_platform.XpuHostPlatform"

# Arc A-series (Alchemist, Xe-HPG gen 1) and its Pro variants: bf16 matmuls are
# not reliable there (vLLM's own XPU platform rejects bf16 on the A770 too).
_ALCHEMIST = re.compile(r"\barc\b.*?\b(pro\s+)?a\d{2,3}m?\b", re.IGNORECASE)


class XpuUnavailableError(RuntimeError):
    """An Intel GPU was requested explicitly but none is visible."""


class HostCpuUnsupportedError(RuntimeError):
    """Host mode was asked for on a CPU that vLLM's CPU kernels cannot run on."""


_X86_MACHINES = ("x86_64", "amd64", "i686", "i386")


def host_cpu_problem(machine: str, cpu_flags: frozenset[str]) -> str | None:
    """Why host mode cannot run on this CPU, or ``None`` when it can.

    vLLM's CPU wheel builds its x86 kernel libraries for AVX2 at least (``_C_AVX2``,
    ``_C_AVX512``, ``_C``); on an older x86 CPU the first kernel call would die with
    "illegal instruction", so host mode refuses to start with one line instead. Other
    architectures have a single library and no such floor.
    """
    if machine.lower() not in _X86_MACHINES or "avx2" in cpu_flags:
        return None
    return (
        "vllm_ipex_plugin: host mode needs an x86-64 CPU with AVX2 (vLLM's CPU kernels are "
        "built for AVX2 and AVX-512); this CPU reports no avx2 flag in /proc/cpuinfo. Run "
        "on a newer CPU or on an Intel GPU (unset IPEX_PLUGIN_HOST_MODE)."
    )


def read_cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str] | None:
    """The CPU's feature flags as Linux reports them, or ``None`` where it cannot be read."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        return None
    return None


def select_platform(host_mode: bool, xpu_available: bool, requested_device: str) -> str | None:
    """Qualname of the platform to activate, or ``None`` to let vLLM pick its own.

    - host mode on: the plugin's platform on the CPU (development / CI mode);
    - an Intel GPU visible: the XPU platform;
    - ``xpu`` requested explicitly (``--device xpu`` or ``IPEX_PLUGIN_DEVICE=xpu``)
      but no GPU: :class:`XpuUnavailableError`, rather than a silent CPU fallback;
    - otherwise ``None``: vLLM keeps its own platform, the plugin stays loaded.
    """
    if host_mode:
        return HOST_PLATFORM
    if xpu_available:
        return XPU_PLATFORM
    if requested_device == "xpu":
        raise XpuUnavailableError(
            "vllm_ipex_plugin: --device xpu was requested but torch sees no Intel GPU "
            "(torch.xpu.is_available() is False). Install a PyTorch XPU build and the GPU "
            "driver, check ZE_AFFINITY_MASK, or set IPEX_PLUGIN_HOST_MODE=1 to run the "
            "plugin on the CPU for development."
        )
    return None


def supports_bf16(device_name: str) -> bool:
    """False for Arc A-series (Alchemist) cards, True for every other device."""
    return _ALCHEMIST.search(device_name or "") is None


def supported_dtypes(device_name: str) -> list[torch.dtype]:
    """vLLM's ``auto`` dtype takes the first entry when the model's own dtype is absent.

    Without bf16 the model's bf16 request falls back to fp16 (vLLM logs that line).
    """
    if supports_bf16(device_name):
        return [torch.bfloat16, torch.float16, torch.float32]
    return [torch.float16, torch.float32]


def check_dtype(dtype: torch.dtype, device_name: str) -> None:
    """Raise ``ValueError`` when ``dtype`` cannot run on the named device."""
    if dtype == torch.bfloat16 and not supports_bf16(device_name):
        raise ValueError(
            f"{device_name} has no reliable bfloat16 support (Intel Arc A-series). "
            "Run with --dtype float16 (or leave --dtype auto, which picks float16 here)."
        )


def check_host_cpu() -> None:
    """Raise :class:`HostCpuUnsupportedError` when this CPU cannot run host mode."""
    import platform

    flags = read_cpu_flags()
    if flags is None:  # no /proc/cpuinfo: let vLLM's own kernel selection decide
        return
    problem = host_cpu_problem(platform.machine(), flags)
    if problem:
        raise HostCpuUnsupportedError(problem)
