"""The fused GEMM's block-pointer activation read (``X_BLOCK_IO``: what PVC and BMG run) on a CUDA GPU,
whose Triton (before 3.9) still has block pointers: numerics first, then time beside the plain read.

    python benchmarks/lowbit_gemm_block_io.py

Every quantized format at three shapes, plain and swapped tiles, split K 1 and 2: the block-pointer
read against float64 (bound 2e-3, fp16 activations) and against the plain read (equal bit for bit
without split K, where both feed the same dot). Then both reads at the H200 table's tile for a few
batch sizes. CUDA keeps the plain read (its tables were tuned with it); the timing only shows what
the block pointer costs or gains there. Intel's build of this path is the offline compile check's.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import torch
import triton

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vllm_ipex_plugin.kernels.common.device import device_facts  # noqa: E402
from vllm_ipex_plugin.kernels.common.timing import graph_time, weight_copies  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit import gemm  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.formats import QUANTIZED  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.quantize_kernel import lowbit_quantize  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.reference import dequantize  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.tuning import table  # noqa: E402

BOUND = 2e-3
CHECK_SHAPES = [(33, 4096, 4096), (16, 14336, 4096), (100, 4096, 14336)]  # (M, N, K)
TIME_SHAPES = [(16, 14336, 4096), (64, 14336, 4096), (256, 14336, 4096), (64, 4096, 4096)]
TILE_KEYS = ("BM", "BN", "BK", "SPLIT_K", "num_warps", "num_stages")


def check(gen: torch.Generator) -> int:
    bad = 0
    for spec in QUANTIZED:
        for m, n, k in CHECK_SHAPES:
            w = torch.randn(n, k, device="cuda", generator=gen, dtype=torch.float16) * 0.02
            x = torch.randn(m, k, device="cuda", generator=gen, dtype=torch.float16)
            t = lowbit_quantize(w, spec.name)
            ref = x.double() @ dequantize(t, spec.name).double().T
            for swap in (False, True):
                for split in (1, 2):
                    y = {bio: gemm.lowbit_gemm(x, t, spec.name, BM=16 if m <= 16 else 64, BN=64, BK=64,
                                               SPLIT_K=split, SWAP=swap, X_BLOCK_IO=bio, num_warps=4, num_stages=3)
                         for bio in (False, True)}
                    err = ((y[True].double() - ref).norm() / ref.norm()).item()
                    same = torch.equal(y[True], y[False])
                    ok = err < BOUND and (same or split > 1)
                    bad += not ok
                    if not ok or (m, swap, split) == (33, False, 1):
                        print(f"{spec.name:10s} M{m} N{n} K{k} swap={swap} split={split}: error {err:.1e}, "
                              f"equal to the plain read: {same} {'ok' if ok else 'BAD'}")
    return bad


def main() -> None:
    print(f"{torch.cuda.get_device_name()} torch {torch.__version__} triton {triton.__version__}")
    gen = torch.Generator(device="cuda").manual_seed(0)
    bad = check(gen)
    cases = len(QUANTIZED) * len(CHECK_SHAPES) * 4
    print("numerics:", f"all {cases} cases within {BOUND}" if not bad else f"{bad} BAD")
    facts = device_facts("cuda")
    print("\nplain read vs block pointer at the table's tile (us per call)")
    for fmt in ("sym_int4", "fp8_e4m3"):
        for m, n, k in TIME_SHAPES:
            w = torch.randn(n, k, device="cuda", generator=gen, dtype=torch.float16) * 0.02
            x = torch.randn(m, k, device="cuda", generator=gen, dtype=torch.float16)
            copies = weight_copies(lowbit_quantize(w, fmt))
            cfg = table.gemm_config(fmt, m, n, k, facts)
            if cfg.get("path") == "dense":
                cfg = table.heuristic_config("gemm", m, n, k, facts)
            tile = {a: cfg[a] for a in TILE_KEYS if a in cfg}
            swap = bool(cfg.get("SWAP", False))
            us = {bio: graph_time([partial(gemm.lowbit_gemm, x, c, fmt, SWAP=swap, X_BLOCK_IO=bio, **tile)
                                   for c in copies]) * 1e6 for bio in (False, True)}
            print(f"{fmt:9s} M{m} {k}x{n} {'swap' if swap else 'plain'} BM{tile['BM']} BN{tile['BN']} BK{tile['BK']}: "
                  f"{us[False]:.2f} vs {us[True]:.2f} ({us[False] / us[True]:.2f}x)")
    if bad:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
