"""GEMV (M = 1) configuration check and timing: every config is checked before it is timed.

    python benchmarks/lowbit_gemv_configs.py

Prints, per format and shape, each (BN, BK, warps) with its relative error against the
float64 reference and its time under CUDA graphs with L2-rotated weights.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from lowbit_gemm import copies_for, graph_time, weight_bytes  # noqa: E402

from vllm_ipex_plugin.kernels import lowbit_triton as lt  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit_reference import dequantize, quantize  # noqa: E402


def main() -> None:
    lt.GEMV_SAFE_ROWS = (1, 2, 4, 8, 16)  # this script re-checks every row count itself
    gen = torch.Generator(device="cuda").manual_seed(1)
    print(f"card: {torch.cuda.get_device_name()}")
    for fmt in ("sym_int4", "fp8_e4m3"):
        for k, n in [(4096, 4096), (14336, 4096), (4096, 14336)]:
            w = torch.randn(n, k, device="cuda", generator=gen) * 0.02
            t0 = quantize(w, fmt)
            sets = [t0] + [{a: b.clone() for a, b in t0.items()} for _ in range(copies_for(weight_bytes(t0)) - 1)]
            x = torch.randn(1, k, device="cuda", generator=gen).half()
            ref = x.double() @ dequantize(t0, fmt).double().T
            fp16 = [w.half().clone() for _ in range(copies_for(w.numel() * 2))]
            t16 = graph_time([functools.partial(torch.nn.functional.linear, x, ww) for ww in fp16])
            results = []
            for bn in (1, 2, 4, 8, 16):
                for bk in (256, 512, 1024, 2048):
                    for warps in (2, 4, 8):
                        if bn * bk > 16384:
                            continue
                        cfg = dict(BN=bn, BK=bk, SPLIT_K=1, num_warps=warps, num_stages=2)
                        try:
                            y = lt.lowbit_gemv(x, t0, fmt, **cfg)
                        except Exception as exc:  # resource limits
                            results.append((cfg, float("nan"), str(exc)[:40]))
                            continue
                        err = ((y.double() - ref).norm() / ref.norm()).item()
                        tt = graph_time([functools.partial(lt.lowbit_gemv, x, s, fmt, **cfg) for s in sets], reps=5)
                        results.append((cfg, err, tt))
            ok = [r for r in results if isinstance(r[2], float) and r[1] < 2e-3]
            bad = [(r[0]["BN"], r[0]["BK"], r[0]["num_warps"]) for r in results if r not in ok]
            ok.sort(key=lambda r: r[2])
            print(f"{fmt} K={k} N={n}: fp16 {t16 * 1e6:.1f} us; wrong or failed configs (BN,BK,warps): {bad}")
            for cfg, err, tt in ok[:4]:
                print(f"   BN={cfg['BN']:<3} BK={cfg['BK']:<5} warps={cfg['num_warps']}: {tt * 1e6:6.1f} us "
                      f"({t16 / tt:.2f}x fp16), rel err {err:.1e}")


if __name__ == "__main__":
    main()
