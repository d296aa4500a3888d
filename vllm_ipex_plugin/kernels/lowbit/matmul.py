"""Weight-only matmul dispatch ``y = x @ dequant(W)^T``: the path, the launch configuration, the kernel.

Paths by batch rows ``m``: the GEMV (``m <= GEMV_MAX_M``), the fused Triton GEMM, or
dequantize + dense matmul (large ``m``; where the tuned table has the shape, whichever of
the two was faster there; dense-only formats above one row). The rules and the
configurations come from ``tuning/table.py``; this module turns them into :class:`Launch`
records, once per layer and batch bucket:

- :class:`LowBitMatmul` is made once per layer (``process_weights_after_loading``); the
  first call of each batch bucket plans it (table lookup, autotune on first use with
  ``IPEX_PLUGIN_LOWBIT_AUTOTUNE=1``), later calls reuse the plan: no name lookup, no table
  lookup, no environment read per call.
- :func:`plan_launches` gives the launches the plugin would make for a shape on any
  device described by a :class:`DeviceFacts` (``INTEL_TARGETS[arch]`` included), without a
  device: what the offline Intel compile check builds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vllm_ipex_plugin import envs
from vllm_ipex_plugin.kernels.common.device import DeviceFacts, device_facts
from vllm_ipex_plugin.kernels.lowbit.dequantize import dequantize_launch, run_dequantize
from vllm_ipex_plugin.kernels.lowbit.formats import BLOCK, LowBitFormat, get_format
from vllm_ipex_plugin.kernels.lowbit.gemm import gemm_launch, run_gemm
from vllm_ipex_plugin.kernels.lowbit.gemv import gemv_launch, run_gemv
from vllm_ipex_plugin.kernels.lowbit.launch import Launch, quant_block
from vllm_ipex_plugin.kernels.lowbit.tuning import table
from vllm_ipex_plugin.kernels.lowbit.tuning.table import GEMM_BUCKETS, GEMV_MAX_M

__all__ = ["GEMV_MAX_M", "Launch", "LowBitMatmul", "lowbit_matmul", "plan_launches"]


@dataclass(frozen=True)
class _Bucket:
    """The plan of one GEMM batch bucket: its batches from ``dense_from`` rows on take the dense path."""

    dense_from: int
    gemm: Launch | None  # None where no batch of the bucket takes the fused GEMM
    dense: Launch


def _plan_bucket(spec: LowBitFormat, bucket: int, n: int, k: int, facts: DeviceFacts, qb: int, has_bias: bool,
                 config, rows: int) -> _Bucket:
    """``config(kernel, bucket)``: the bucket's table entry (a lookup, or one that may tune first).
    ``rows``: the batch the launches' grids are given for (the launchers size them per call)."""
    entry = {} if spec.dense_only else config("gemm", bucket)
    dense_from = table.dense_from(spec.name, entry, facts)
    gemm = None
    if dense_from > _first_batch(bucket):  # some batch of the bucket takes the fused GEMM
        cfg = table.heuristic_config("gemm", bucket, n, k, facts) if entry.get("path") == "dense" else entry
        gemm = gemm_launch(spec, rows, n, k, cfg, qb=qb, has_bias=has_bias, facts=facts)
    return _Bucket(dense_from, gemm, dequantize_launch(spec, n, k, qb=qb, facts=facts))


def _first_batch(bucket: int) -> int:
    """The smallest batch that falls in GEMM ``bucket``."""
    i = GEMM_BUCKETS.index(bucket)
    return GEMM_BUCKETS[i - 1] + 1 if i else GEMV_MAX_M + 1


def plan_launches(fmt: str | LowBitFormat, m: int, n: int, k: int, facts: DeviceFacts, *, qb: int = BLOCK,
                  x_dtype: torch.dtype = torch.float16, bias: bool = False) -> list[Launch]:
    """The Triton launches the plugin makes for ``x [m, k] @ W [n, k]^T (+ bias)`` on the device
    ``facts`` describes: ``[gemv]``, ``[gemm]`` or ``[dequantize]`` (the dense path then runs
    ``torch.nn.functional.linear``); ``[]`` for fp16 / bf16. ``qb``: columns per scale (32 for
    asym_int4 converted from group-size-32 AWQ/GPTQ); ``x_dtype``: the activations' dtype (it
    picks the paired GEMV's activation read). Configurations come from the tuned tables for
    ``facts.name`` (user cache, then shipped) or the heuristics; nothing is tuned and no
    device is touched. The same planning runs inside :class:`LowBitMatmul`.
    """
    spec = get_format(fmt)
    if not spec.quantized:
        return []

    def config(kernel: str, bucket: int) -> dict:
        return table.lookup(kernel, spec.name, bucket, n, k, facts)[0]

    if m <= GEMV_MAX_M:
        return [gemv_launch(spec, m, n, k, config("gemv", m), facts, qb=qb, x_dtype=x_dtype, has_bias=bias)]
    plan = _plan_bucket(spec, table.m_bucket("gemm", m), n, k, facts, qb, bias, config, rows=m)
    return [plan.dense if m >= plan.dense_from else plan.gemm]


def _capturing(device: torch.device) -> bool:
    """Inside a graph capture nothing may be timed or synchronized: use the heuristics."""
    accel = getattr(torch, device.type, None)
    check = getattr(accel, "is_current_stream_capturing", None)
    return bool(check()) if check is not None else False


class LowBitMatmul:
    """``y = x @ dequant(W)^T (+ bias)`` for one layer's weight, planned once per batch bucket.

    Made from the stored tensors (their shapes, not their storage: each call passes the
    tensors, so the plan never keeps a weight alive or stale). Not for fp16 / bf16.
    """

    def __init__(self, fmt: str | LowBitFormat, tensors: dict[str, torch.Tensor]) -> None:
        self.spec = get_format(fmt)
        payload = tensors[self.spec.payload]
        self.n, self.k = payload.shape[0], payload.shape[1] * self.spec.codes_per_byte
        self.device = payload.device
        self.facts = device_facts(self.device)
        self.qb = quant_block(tensors, self.spec, self.k)
        self._gemv: dict[tuple[torch.dtype, bool], Launch] = {}
        self._buckets: dict[tuple[int, bool], _Bucket] = {}

    def _config(self, kernel: str, bucket: int) -> tuple[dict, bool]:
        """The bucket's entry; an untuned one is tuned first with IPEX_PLUGIN_LOWBIT_AUTOTUNE=1 (not
        inside a graph capture: then the heuristics, and the plan is not kept)."""
        name, n, k, facts = self.spec.name, self.n, self.k, self.facts
        cfg, tuned = table.lookup(kernel, name, bucket, n, k, facts)
        if tuned or facts.vendor == "cpu" or not envs.lowbit_autotune():
            return cfg, True
        if _capturing(self.device):
            return cfg, False
        from vllm_ipex_plugin.kernels.lowbit.tuning.tuner import tune_and_save

        tune_and_save(kernel, name, bucket, n, k, self.device)  # saves, then clears the table's caches
        return table.lookup(kernel, name, bucket, n, k, facts)[0], True

    def _plan_gemv(self, x_dtype: torch.dtype, has_bias: bool) -> Launch:
        cfg, keep = self._config("gemv", 1)
        launch = gemv_launch(self.spec, 1, self.n, self.k, cfg, self.facts, qb=self.qb, x_dtype=x_dtype,
                             has_bias=has_bias)
        if keep:
            self._gemv[(x_dtype, has_bias)] = launch
        return launch

    def _plan_gemm(self, bucket: int, has_bias: bool) -> _Bucket:
        keep = True

        def config(kernel: str, b: int) -> dict:
            nonlocal keep
            cfg, kept = self._config(kernel, b)
            keep = keep and kept
            return cfg

        plan = _plan_bucket(self.spec, bucket, self.n, self.k, self.facts, self.qb, has_bias, config, rows=bucket)
        if keep:
            self._buckets[(bucket, has_bias)] = plan
        return plan

    def __call__(self, x: torch.Tensor, tensors: dict[str, torch.Tensor], bias: torch.Tensor | None = None):
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        if not x2.is_contiguous():
            x2 = x2.contiguous()
        m = x2.shape[0]
        has_bias = bias is not None
        if m <= GEMV_MAX_M:
            launch = self._gemv.get((x2.dtype, has_bias)) or self._plan_gemv(x2.dtype, has_bias)
            y = run_gemv(launch, x2, tensors, self.spec, bias)
        else:
            bucket = table.m_bucket("gemm", m)
            plan = self._buckets.get((bucket, has_bias)) or self._plan_gemm(bucket, has_bias)
            if m >= plan.dense_from:
                w = run_dequantize(plan.dense, tensors, self.spec, x2.dtype)
                y = torch.nn.functional.linear(x2, w, bias)
            else:
                y = run_gemm(plan.gemm, x2, tensors, self.spec, bias)
        return y.reshape(*shape[:-1], y.shape[-1])


def lowbit_matmul(x: torch.Tensor, tensors: dict[str, torch.Tensor], fmt: str | LowBitFormat,
                  bias=None) -> torch.Tensor:
    """One-off :class:`LowBitMatmul` call (tests, benchmarks); layers keep their plan instead."""
    return LowBitMatmul(fmt, tensors)(x, tensors, bias)
