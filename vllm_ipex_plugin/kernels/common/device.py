"""The facts about a GPU that launch configurations depend on, read once per device.

Launch planning (tile sizes, warps, split-K, GRF mode) takes a :class:`DeviceFacts`, never a
live ``torch.device`` query, so that the same planning code runs for a card that is not
here: the Intel compile check plans for PVC, BMG and DG2 from ``INTEL_TARGETS`` and compiles
exactly what the plugin would launch on each.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DeviceFacts:
    """``vendor``: ``cuda``, ``xpu`` or ``cpu``. ``arch``: Intel's short name (``pvc``, ``bmg``,
    ``dg2``, ``lnl``, ``mtl``, ``xpu`` when unknown) or ``sm<major><minor>`` on CUDA.
    ``compute_units``: SMs on CUDA, Xe cores on Intel (what a grid must cover to fill the card).
    ``block_pointer_loads``: the kernels read their activation tiles through ``tl.make_block_ptr``,
    which Intel's backend lowers to 2D block reads: on Intel GPUs with 2D block IO whose Triton still
    has block pointers (Triton 3.9 removed them). Off elsewhere, CUDA included, where the plain
    loads are what the tuned tables were measured with."""

    name: str
    vendor: str
    arch: str
    compute_units: int
    subgroup_sizes: tuple[int, ...] = ()
    has_dpas: bool = False
    has_2d_block_io: bool = False
    cuda_capability: tuple[int, int] | None = None
    l2_bytes: int = 50 * 2**20
    block_pointer_loads: bool = False

    @property
    def is_intel(self) -> bool:
        return self.vendor == "xpu"


# Name patterns of Intel GPUs (torch.xpu.get_device_name) -> architecture.
_INTEL_ARCH_BY_NAME = (
    (re.compile(r"data center gpu max", re.I), "pvc"),
    (re.compile(r"\barc\b.*\bb\d{3}\b|battlemage", re.I), "bmg"),
    (re.compile(r"\barc\b.*\b(pro\s+)?a\d{2,3}m?\b|alchemist|dg2", re.I), "dg2"),
    (re.compile(r"\barc\b.*\b1[34]0v\b|lunar lake", re.I), "lnl"),
    (re.compile(r"meteor lake|\barc\b.*graphics$", re.I), "mtl"),
)


def intel_arch(device_name: str) -> str:
    """Intel's short architecture name from a device name; ``xpu`` when none matches."""
    for pattern, arch in _INTEL_ARCH_BY_NAME:
        if pattern.search(device_name or ""):
            return arch
    return "xpu"


# The three Intel targets the compile check builds for, as their drivers report them
# (``ocloc query CL_DEVICE_EXTENSIONS`` agrees on 2D block IO and DPAS). Xe cores: PVC per
# stack (one stack per device in FLAT mode), B580 20, A770 32.
# The compile check's Triton (triton-xpu 3.3) has block pointers.
INTEL_TARGETS: dict[str, DeviceFacts] = {
    "pvc": DeviceFacts("Intel(R) Data Center GPU Max 1550", "xpu", "pvc", 64, (16, 32), True, True, None,
                       204 * 2**20, True),
    "bmg": DeviceFacts("Intel(R) Arc(TM) B580 Graphics", "xpu", "bmg", 20, (16, 32), True, True, None,
                       18 * 2**20, True),
    "dg2": DeviceFacts("Intel(R) Arc(TM) A770 Graphics", "xpu", "dg2", 32, (8, 16, 32), True, False, None,
                       16 * 2**20),
}

CPU_FACTS = DeviceFacts("cpu", "cpu", "cpu", 64)


def triton_has_block_pointers(version: str | None = None) -> bool:
    """Whether Triton ``version`` (default: the installed one; none installed: False) still takes
    ``tl.make_block_ptr``, which 3.9 removed for tensor descriptors. Imported here only: the plugin
    runs without Triton (torch kernels), and this module is imported at start-up."""
    if version is None:
        try:
            import triton
        except ImportError:
            return False
        version = triton.__version__
    major, minor = (int(part) for part in re.findall(r"\d+", version)[:2])
    return (major, minor) < (3, 9)


def _xpu_facts(index: int) -> DeviceFacts:
    props = torch.xpu.get_device_properties(index)
    name = torch.xpu.get_device_name(index)
    arch = intel_arch(name)
    known = INTEL_TARGETS.get(arch)
    block_io = bool(getattr(props, "has_subgroup_2d_block_io", known.has_2d_block_io if known else False))
    return DeviceFacts(
        name=name,
        vendor="xpu",
        arch=arch,
        compute_units=int(getattr(props, "gpu_subslice_count", 0) or (known.compute_units if known else 64)),
        subgroup_sizes=tuple(getattr(props, "sub_group_sizes", ()) or (known.subgroup_sizes if known else ())),
        has_dpas=bool(getattr(props, "has_subgroup_matrix_multiply_accumulate", known.has_dpas if known else False)),
        has_2d_block_io=block_io,
        l2_bytes=known.l2_bytes if known else 50 * 2**20,
        block_pointer_loads=block_io and triton_has_block_pointers(),
    )


def _cuda_facts(index: int) -> DeviceFacts:
    props = torch.cuda.get_device_properties(index)
    cap = torch.cuda.get_device_capability(index)
    return DeviceFacts(
        name=torch.cuda.get_device_name(index),
        vendor="cuda",
        arch=f"sm{cap[0]}{cap[1]}",
        compute_units=props.multi_processor_count,
        has_dpas=cap[0] >= 8,
        has_2d_block_io=cap[0] >= 9,
        cuda_capability=cap,
        l2_bytes=int(getattr(props, "L2_cache_size", 50 * 2**20)),
    )


@functools.cache
def _facts(device_type: str, index: int) -> DeviceFacts:
    if device_type == "cuda":
        return _cuda_facts(index)
    if device_type == "xpu":
        return _xpu_facts(index)
    return CPU_FACTS


def device_facts(device: torch.device | str) -> DeviceFacts:
    """The facts of ``device`` (cached: read from the driver once per process and device)."""
    device = torch.device(device)
    index = device.index
    if index is None and device.type in ("cuda", "xpu"):
        index = getattr(torch, device.type).current_device()
    return _facts(device.type, index or 0)
