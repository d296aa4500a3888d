"""Fused low-bit GEMM tiles for large batches (M = 256, 1024) against cuBLAS fp16, one run.

    python benchmarks/lowbit_gemm_large_m.py [--formats sym_int4,asym_int4] [--ms 256,1024]

Why: above 128 rows the plugin dequantizes the whole weight and calls the dense matmul, or runs
the fused GEMM with the tiles the tuner offered (64-128 rows x 128-256 columns), which leaves
most SMs idle on a 4096-wide output at M = 256 while each tile decodes its weights again. This
sweeps tiles that decode each weight tile for more rows (BM up to 256) over narrower column
tiles (BN 32-128, so enough programs to fill the GPU) and prints, per shape and M: cuBLAS fp16,
the plugin's current dispatch (``lowbit_matmul``), the dense path, and the best fused tiles,
each checked against the float64 product of the dequantized weights first (bound 2e-3, fp16
activations), timed like ``lowbit_gemm.py`` (CUDA graphs over L2-rotated weight copies).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.lowbit_gemm import REL_BOUND  # noqa: E402
from vllm_ipex_plugin.kernels.common.timing import copy_bandwidth, graph_time, weight_copies  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.dequantize import lowbit_dequantize  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.gemm import lowbit_gemm  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.matmul import lowbit_matmul  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.quantize_kernel import lowbit_quantize  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.reference import dequantize  # noqa: E402

SHAPES = [(4096, 4096), (4096, 14336), (14336, 4096), (4096, 128256)]  # (K, N)


def tiles():
    for bm, bn, bk, warps, stages in itertools.product((64, 128, 256), (32, 64, 128), (64, 128), (4, 8), (3, 4)):
        if bm * bn > 256 * 64 and warps == 4:
            continue  # accumulator too large for 4 warps
        if bm * bn * 4 // (warps * 32) > 256:
            continue
        yield {"BM": bm, "BN": bn, "BK": bk, "num_warps": warps, "num_stages": stages, "SPLIT_K": 1}


def rel_err(y, x, wd) -> float:
    ref = x.double() @ wd.double().T
    return ((y.double() - ref).norm() / ref.norm()).item()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--formats", default="sym_int4")
    ap.add_argument("--ms", default="256,1024")
    ap.add_argument("--shapes", type=int, default=len(SHAPES), help="first N shapes")
    ap.add_argument("--top", type=int, default=3)
    args = ap.parse_args()
    card = torch.cuda.get_device_name()
    bw = copy_bandwidth()
    print(f"card: {card}; torch {torch.__version__}; triton {__import__('triton').__version__}; "
          f"copy rate measured now {bw / 1e12:.2f} TB/s", flush=True)
    gen = torch.Generator(device="cuda").manual_seed(0)
    summary = []
    t0 = time.time()
    for fmt in args.formats.split(","):
        for k, n in SHAPES[: args.shapes]:
            w = torch.randn(n, k, device="cuda", generator=gen) * 0.02
            t = lowbit_quantize(w, fmt)
            wd = dequantize(t, fmt)
            copies = weight_copies(t)
            wh = [w.half().contiguous() for _ in range(max(2, len(copies) // 4))]
            for m in (int(v) for v in args.ms.split(",")):
                x = torch.randn(m, k, device="cuda", generator=gen).half()
                fp16 = graph_time([lambda i=i, x=x, wh=wh: torch.matmul(x, wh[i].T) for i in range(len(wh))])
                assert rel_err(lowbit_matmul(x, t, fmt), x, wd) < REL_BOUND
                now = graph_time([lambda c=c, x=x, fmt=fmt: lowbit_matmul(x, c, fmt) for c in copies])
                dense = graph_time([lambda c=c, x=x, fmt=fmt: torch.matmul(x, lowbit_dequantize(c, fmt, x.dtype).T)
                                    for c in copies])
                results = []
                for cfg in tiles():
                    try:
                        err = rel_err(lowbit_gemm(x, t, fmt, **cfg), x, wd)
                        if not err < REL_BOUND:
                            results.append((float("inf"), cfg, f"wrong {err:.1e}"))
                            continue
                        results.append((graph_time([lambda c=c, x=x, fmt=fmt, cfg=cfg: lowbit_gemm(x, c, fmt, **cfg)
                                                    for c in copies]),
                                        cfg, f"{err:.1e}"))
                    except Exception as e:  # out of resources etc.: reported, the sweep goes on
                        results.append((float("inf"), cfg, type(e).__name__))
                results.sort(key=lambda r: r[0])
                best = results[0]
                print(f"{fmt} {k}x{n} M={m}: fp16 {fp16 * 1e6:.1f} us | now {fp16 / now:.2f}x | dense "
                      f"{fp16 / dense:.2f}x | best fused {fp16 / best[0]:.2f}x {best[1]} (err {best[2]}) "
                      f"[{time.time() - t0:.0f}s]", flush=True)
                for r in results[1: args.top]:
                    print(f"      {fp16 / r[0]:.2f}x {r[1]}", flush=True)
                summary.append((fmt, k, n, m, fp16 / now, fp16 / dense, fp16 / best[0], best[1]))
    print(f"\nsummary on {card} (speedup over cuBLAS fp16, same run)")
    print(f"{'format':9} {'K x N':>13} {'M':>5} {'now':>6} {'dense':>6} {'fused':>6}  best tile")
    for fmt, k, n, m, a, b, c, cfg in summary:
        tile = f"BM{cfg['BM']} BN{cfg['BN']} BK{cfg['BK']} w{cfg['num_warps']} s{cfg['num_stages']}"
        print(f"{fmt:9} {k:>6}x{n:<6} {m:>5} {a:5.2f}x {b:5.2f}x {c:5.2f}x  {tile}")


if __name__ == "__main__":
    main()
