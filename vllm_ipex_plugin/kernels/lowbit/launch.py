"""The host side every low-bit kernel launch shares: the :class:`Launch` record and the operands.

A :class:`Launch` is one Triton kernel launch as the plugin makes it: the ``@triton.jit``
function, its constexprs (``FMT``, tile sizes, split-K, ...), ``num_warps`` / ``num_stages``
and the grid. The launchers (``gemv.py``, ``gemm.py``, ``dequantize.py``,
``quantize_kernel.py``) build one from a configuration and run exactly that; an offline
compile check builds the same records from ``matmul.plan_launches`` without a device.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from vllm_ipex_plugin.kernels.lowbit.formats import BLOCK, LowBitFormat
from vllm_ipex_plugin.kernels.lowbit.reference import code_table


@dataclass(frozen=True)
class Launch:
    """One kernel launch: ``fn[grid](*tensors and sizes, **constexprs, num_warps=..., num_stages=...)``.

    ``grid`` is the grid for the ``m`` the launch was planned for (GEMM/GEMV grids grow with
    the batch; the launchers recompute it from the actual input). ``options``: extra
    compile options (``enable_fp_fusion`` for the quantize kernel on CUDA).
    """

    fn: object = field(repr=False, compare=False)  # the @triton.jit function
    constexprs: dict
    num_warps: int
    num_stages: int | None  # None: Triton's default for the backend (not passed)
    grid: tuple[int, ...]
    options: dict = field(default_factory=dict)
    _kwargs: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        kwargs = {**self.constexprs, "num_warps": self.num_warps, **self.options}
        if self.num_stages is not None:
            kwargs["num_stages"] = self.num_stages
        object.__setattr__(self, "_kwargs", kwargs)

    @property
    def module(self) -> str:
        return getattr(self.fn, "fn", self.fn).__module__

    @property
    def function(self) -> str:
        return getattr(self.fn, "fn", self.fn).__name__

    @property
    def kernel_name(self) -> str:
        """``module:function`` of the kernel (what a compile-check case names)."""
        return f"{self.module}:{self.function}"

    def run(self, grid: tuple[int, ...], *args) -> None:
        self.fn[grid](*args, **self._kwargs)


def operands(tensors: dict[str, torch.Tensor], spec: LowBitFormat):
    """``(payload, high bits, scales, mins)``; an absent tensor is replaced by one that is
    present (the kernel never reads it, but every pointer argument must be a tensor)."""
    q = tensors[spec.payload]
    q2 = tensors.get("qhigh", q)
    s = tensors.get("scales", q)
    m = tensors.get("mins", s)
    return q, q2, s, m


def quant_block(tensors: dict[str, torch.Tensor], spec: LowBitFormat, k: int) -> int:
    """Columns per scale: 64, or 32 for asym_int4 converted from group-size-32 AWQ/GPTQ."""
    if "scales" not in tensors:
        return BLOCK
    qb = k // tensors["scales"].shape[1]
    if qb not in (32, 64):
        raise ValueError(f"{spec.name}: {qb} columns per scale; the kernels take 32 or 64")
    return qb


def pick_block_k(k: int, want: int) -> int:
    """The largest power-of-two fraction of ``want`` that divides ``k`` (at least one block)."""
    bk = want
    while k % bk:
        bk //= 2
    return max(bk, BLOCK)


def matmul_operands(launch: Launch, x: torch.Tensor, tensors: dict[str, torch.Tensor], spec: LowBitFormat,
                    out: torch.Tensor | None):
    """``(m, n, k, (q, q2, s, mins), y)`` of a GEMV / GEMM launch on ``x [m, k]``; ``y``: where it writes."""
    m, k = x.shape
    ops = operands(tensors, spec)
    n = ops[0].shape[0]
    return m, n, k, ops, output(m, n, x, launch.constexprs["SPLIT_K"], out)


def output(m: int, n: int, x: torch.Tensor, split_k: int, out: torch.Tensor | None) -> torch.Tensor:
    """Split-K accumulates into a zeroed fp32 buffer; otherwise write ``out`` (or a new tensor)."""
    if split_k > 1:
        return torch.zeros((m, n), device=x.device, dtype=torch.float32)
    return out if out is not None else torch.empty((m, n), device=x.device, dtype=x.dtype)


def finish(y: torch.Tensor, dtype: torch.dtype, split_k: int, out: torch.Tensor | None) -> torch.Tensor:
    if split_k == 1:
        return y
    if out is None:
        return y.to(dtype)
    return out.copy_(y)


_WORKSPACES: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}
_OUTGROWN: list[tuple[torch.Tensor, torch.Tensor]] = []
WORKSPACE_MIN = 1 << 18  # fp32 sums and int32 counters each: covers a 256k-entry vocabulary at one row


def split_workspace(device: torch.device, floats: int, counters: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The device's zeroed fp32 workspace and int32 counters for split-K GEMVs (``decode.store_split``).

    Allocated once per device (grown when a larger layer needs more) and kept zero by the kernels
    themselves. An outgrown pair is kept alive, never freed: a captured graph may still point at it.
    One pair per device assumes its split GEMVs never run concurrently (one stream, as vLLM's model
    runner issues them); overlapping streams would each need their own.
    """
    pair = _WORKSPACES.get(device)
    if pair is None or pair[0].numel() < floats or pair[1].numel() < counters:
        if pair is not None:
            _OUTGROWN.append(pair)
        size = max(floats, counters, WORKSPACE_MIN)
        pair = (torch.zeros(size, dtype=torch.float32, device=device),
                torch.zeros(size, dtype=torch.int32, device=device))
        _WORKSPACES[device] = pair
    return pair


def nf4_table(device: torch.device) -> torch.Tensor:
    """The NF4 codebook the decoders read (``code_ptr``; unused by the other formats)."""
    return code_table("nf4", device)
