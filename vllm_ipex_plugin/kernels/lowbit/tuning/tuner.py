"""Tune the low-bit kernels' launch configurations on this device and cache them.

    python -m vllm_ipex_plugin.kernels.lowbit.tuning.tuner --formats sym_int4 \\
        --shapes 4096x6144,4096x4096,4096x28672,14336x4096 --m 1,16,32,64,128

Shapes are ``K x N`` (input x output, per tensor-parallel shard). Every candidate is run
on fresh random weights, checked against a float32 dequantize-and-matmul (relative error
below ``REL_BOUND``, and with K unsplit three runs identical bit for bit; a config that computes a
wrong result is dropped, whatever its speed), then timed (on CUDA: a CUDA graph replaying enough
weight copies to overflow L2; elsewhere ``triton.testing.do_bench``). The fastest correct config is written to the
cache that ``table.py`` reads.
Needs torch + Triton on an XPU or CUDA device; no vLLM.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import sys
from pathlib import Path

import torch
import triton

from vllm_ipex_plugin.kernels.common.device import device_facts
from vllm_ipex_plugin.kernels.common.timing import graph_time, weight_copies
from vllm_ipex_plugin.kernels.lowbit import reference
from vllm_ipex_plugin.kernels.lowbit.dequantize import lowbit_dequantize
from vllm_ipex_plugin.kernels.lowbit.formats import canonical_name, get_format
from vllm_ipex_plugin.kernels.lowbit.gemm import lowbit_gemm
from vllm_ipex_plugin.kernels.lowbit.gemv import H16_FORMATS, KERNEL_KEYS, W4_FORMATS, lowbit_gemv
from vllm_ipex_plugin.kernels.lowbit.tuning import table

REL_BOUND = 2e-3


GEMV_KERNELS = ("generic", "pairs", "w4", "h16")
# Swapped GEMM tiles (``SWAP``) run with at most this many warps: with 8 warps and 128 x 128 or larger
# tiles, Triton 3.6 on the H200 produced run-to-run different results, NaNs among them (docs/decisions.md).
SWAP_MAX_WARPS = 4
# Runs of each candidate that must agree bit for bit where K is unsplit (no atomics, so a difference
# is a miscompiled or racing kernel, not summation order); one that does not is dropped like a wrong one.
REPEAT_RUNS = 3


def gemv_candidates(fmt: str, kernels: tuple[str, ...] = GEMV_KERNELS):
    """GEMV configurations of the kernels named in ``kernels`` that take ``fmt``."""
    spec = get_format(fmt)
    if "generic" in kernels:
        for bn, bk, split, warps in itertools.product(table.GEMV_SAFE_ROWS, (512, 1024, 2048), (1, 2, 4), (2, 4, 8)):
            if bn * bk <= 16384:
                yield {"BN": bn, "BK": bk, "SPLIT_K": split, "num_warps": warps, "num_stages": 2}
    if "pairs" in kernels and spec.paired_gemv:  # the paired-nibble GEMV
        for bn, bk, split, warps in itertools.product((1, 2, 4, 8, 16), (512, 1024, 2048), (1, 2, 4), (2, 4)):
            if bn * bk <= 16384:
                yield {"PAIRS": True, "BN": bn, "BK": bk, "SPLIT_K": split, "num_warps": warps, "num_stages": 2}
    if "w4" in kernels and spec.id in W4_FORMATS:  # the word-wise 4-bit GEMV: many rows per program
        for bn, bk, split, warps in itertools.product((8, 16), (256, 512, 1024), (1, 2, 4), (2, 4)):
            if bn * bk <= 16384:
                yield {"W4": True, "BN": bn, "BK": bk, "SPLIT_K": split, "num_warps": warps, "num_stages": 2}
    if "h16" in kernels and spec.id in H16_FORMATS:  # fp16-pair products (fp16 activations, as tuned)
        for bn, bk, split, warps in itertools.product((4, 8, 16, 32), (256, 512, 1024), (1, 2, 4), (2, 4)):
            if bn * bk <= 16384:
                yield {"H16": True, "BN": bn, "BK": bk, "SPLIT_K": split, "num_warps": warps, "num_stages": 2}


def gemm_candidates(m_bucket: int):
    """Fused-GEMM tiles for the bucket, plain and ``SWAP`` (weights as the dot's first operand), then the
    dense path (dequantize + dense matmul)."""
    if m_bucket <= 128:
        block_m = (16,) if m_bucket <= 16 else (32, 64)
        tiles = itertools.product(block_m, (64, 128), (128, 256), (1, 2, 4), ((4, 3), (8, 3)))
        swapped = itertools.product(block_m, (64, 128), (64, 128), (1, 2, 4), ((4, 3), (4, 4)))
    else:  # compute-heavy: large tiles (plain ones unsplit)
        tiles = itertools.product((64, 128), (128, 256), (64, 128), (1,), ((8, 3), (8, 4), (4, 3)))
        swapped = itertools.product((128, 256), (64, 128), (64,), (1, 2), ((4, 3), (4, 4)))
    for bm, bn, bk, split, (warps, stages) in tiles:
        yield {"path": "gemm", "BM": bm, "BN": bn, "BK": bk, "SPLIT_K": split, "num_warps": warps,
               "num_stages": stages}
    for bm, bn, bk, split, (warps, stages) in swapped:
        if warps > SWAP_MAX_WARPS or bm * bn > 256 * 64:
            continue
        yield {"path": "gemm", "SWAP": True, "BM": bm, "BN": bn, "BK": bk, "SPLIT_K": split, "num_warps": warps,
               "num_stages": stages}
    if m_bucket >= 32:
        yield {"path": "dense"}


def _problem(fmt: str, m: int, n: int, k: int, device: torch.device, seed: int = 0):
    gen = torch.Generator(device=device).manual_seed(seed)
    w = torch.randn(n, k, device=device, generator=gen) * 0.02
    stored = reference.quantize(w, fmt)
    x = torch.randn(m, k, device=device, generator=gen).half()
    ref = x.float() @ reference.dequantize(stored, fmt).T
    return x, stored, ref


def _time_ms(call, copies) -> float:
    if copies[0][next(iter(copies[0]))].device.type == "cuda":
        return graph_time([functools.partial(call, t) for t in copies], reps=5) * 1e3
    # elsewhere (XPU): triton's timer, which flushes the cache between runs
    return triton.testing.do_bench(lambda: call(copies[0]), warmup=5, rep=20, return_mode="median")


def tune_one(kernel: str, fmt: str, m: int, n: int, k: int, device: torch.device, log=None,
             gemv_kernels: tuple[str, ...] = GEMV_KERNELS) -> dict:
    """Fastest correct config for one case; raises if no candidate is correct.

    With a subset of ``gemv_kernels``, the configuration the device uses today for the case is
    timed first beside the subset's, so that a new kernel replaces it only by winning in the same run.
    """
    x, tensors, ref = _problem(fmt, m, n, k, device)
    copies = weight_copies(tensors)
    launch = lowbit_gemv if kernel == "gemv" else lowbit_gemm
    if kernel == "gemv":
        candidates = list(gemv_candidates(fmt, gemv_kernels))
        if set(gemv_kernels) != set(GEMV_KERNELS):
            now = table.config_for("gemv", fmt, m, n, k, device_facts(device))
            candidates.insert(0, {**dict.fromkeys(KERNEL_KEYS, False),
                                  **{a: v for a, v in now.items() if a != "us"}})
    else:
        candidates = gemm_candidates(table.m_bucket(kernel, m))
    best, wrong = None, 0
    for cfg in candidates:
        def call(t, cfg=cfg):
            if cfg.get("path") == "dense":
                return torch.matmul(x, lowbit_dequantize(t, fmt, x.dtype).T)
            return launch(x, t, fmt, **{name: v for name, v in cfg.items() if name != "path"})

        try:
            y = call(tensors)
        except Exception:  # out of resources for this tile shape on this device
            continue
        err = ((y.float() - ref).norm() / ref.norm()).item()
        if not err < REL_BOUND:
            wrong += 1
            if log:
                log(f"  wrong result ({err:.1e}) with {cfg}: dropped")
            continue
        if cfg.get("SPLIT_K", 1) == 1 and not all(torch.equal(y, call(tensors)) for _ in range(REPEAT_RUNS - 1)):
            wrong += 1
            if log:
                log(f"  run-to-run different results with {cfg}: dropped")
            continue
        ms = _time_ms(call, copies)
        if best is None or ms < best[0]:
            best = (ms, {a: v for a, v in cfg.items() if v is not False})
    if best is None:
        raise RuntimeError(f"no correct {kernel} config for {fmt} M={m} N={n} K={k}")
    if log:
        log(f"{kernel} {fmt} M={m} K={k} N={n}: {best[0] * 1e3:.1f} us with {best[1]} ({wrong} wrong configs)")
    return dict(best[1], us=round(best[0] * 1e3, 2))


def tune_and_save(kernel: str, fmt: str, m: int, n: int, k: int, device: torch.device) -> dict:
    key = table.entry_key(kernel, fmt, m, n, k)
    cfg = tune_one(kernel, fmt, m, n, k, device)
    table.save_entries(device_facts(device), {key: cfg})
    return {key: cfg}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--formats", default="sym_int4")
    ap.add_argument("--shapes", required=True, help="KxN,KxN,... (input x output per shard)")
    ap.add_argument("--m", default="1,16,32,64,128,256,1024",
                    help="batch sizes (1 = GEMV; others: GEMM buckets, each also timed against the dense path)")
    ap.add_argument("--output", help="cache file to write (default: the user cache of this device)")
    ap.add_argument("--gemv-kernels", default=",".join(GEMV_KERNELS),
                    help="GEMV kernels to try (a subset is timed against the configuration in use today)")
    args = ap.parse_args(argv)
    if torch.cuda.is_available():
        device = torch.device("cuda")
    elif hasattr(torch, "xpu") and torch.xpu.is_available():
        device = torch.device("xpu")
    else:
        print("tuner: no XPU or CUDA device; nothing to tune.", file=sys.stderr)
        return 2
    output = Path(args.output) if args.output else None
    facts = device_facts(device)
    count = 0
    for fmt in args.formats.split(","):
        fmt = canonical_name(fmt)
        for shape in args.shapes.split(","):
            k, n = (int(v) for v in shape.lower().split("x"))
            for m in (int(v) for v in args.m.split(",")):
                kernel = "gemv" if m <= table.GEMV_MAX_M else "gemm"
                cfg = tune_one(kernel, fmt, m, n, k, device, log=lambda line: print(line, flush=True),
                               gemv_kernels=tuple(args.gemv_kernels.split(",")))
                path = table.save_entries(facts, {table.entry_key(kernel, fmt, m, n, k): cfg}, output)
                count += 1
    print(f"wrote {count} configs for {facts.name} to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
