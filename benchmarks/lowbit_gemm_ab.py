"""Batched (M > 1) A/B of the low-bit matmul in one process: the shipped tables vs a tuner's cache.

    python -m vllm_ipex_plugin.kernels.lowbit.tuning.tuner --formats sym_int4 --shapes ... --m 64,256 \\
        --output DIR/tuning/<device>.json
    python benchmarks/lowbit_gemm_ab.py --after-cache DIR [--formats sym_int4] [--ms 64,256,1024]

"before" is what the plugin runs with the shipped table alone (``IPEX_PLUGIN_CACHE`` pointed at an
empty folder), "after" with ``DIR`` as the plugin's cache (its ``tuning/<device>.json`` first, then the
shipped table). For each format, Llama-3-8B linear shape and batch: cuBLAS fp16, ``lowbit_matmul``
before and after (path and tile of each printed), each checked against float64 first (bound 2e-3,
fp16 activations), then timed like ``lowbit_gemm.py`` (CUDA graphs over L2-rotated weight copies,
median of 20 replays), twice, the better pass reported. The int4 peers (``benchmarks/peers.py``) are
timed beside sym_int4 on the four scoreboard shapes. CUDA only.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch
import triton

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.lowbit_gemm import REL_BOUND, time_peers  # noqa: E402
from benchmarks.peers import INT4_PEERS  # noqa: E402
from vllm_ipex_plugin import envs  # noqa: E402
from vllm_ipex_plugin.kernels.common.device import device_facts  # noqa: E402
from vllm_ipex_plugin.kernels.common.timing import copy_bandwidth, graph_time, weight_copies  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.matmul import lowbit_matmul, plan_launches  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.quantize_kernel import lowbit_quantize  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.reference import dequantize  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.tuning import table  # noqa: E402

SHAPES = [(4096, 4096), (4096, 14336), (14336, 4096), (4096, 128256), (4096, 6144), (4096, 28672)]  # (K, N)
PEER_SHAPES = SHAPES[:4]


def use_cache(folder: str) -> None:
    """Point the plugin's tables at ``folder`` (read at lookup time) and forget what was looked up."""
    os.environ[envs.CACHE] = folder
    table.clear_caches()


def describe(fmt: str, m: int, n: int, k: int) -> str:
    """The path and tile the plugin plans now for the shape."""
    launches = plan_launches(fmt, m, n, k, device_facts(torch.device("cuda")))
    if not launches or launches[0].function == "_lowbit_dequant_kernel":
        return "dense"
    c = launches[0].constexprs
    swap = " swap" if c.get("SWAP") else ""
    return f"fused{swap} BM{c['BM']} BN{c['BN']} BK{c['BK']} SK{c['SPLIT_K']} nw{launches[0].num_warps}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--after-cache", required=True, help="the plugin cache folder holding the tuned entries")
    ap.add_argument("--formats", default="sym_int4")
    ap.add_argument("--ms", default="64,256,1024")
    args = ap.parse_args()
    empty = tempfile.mkdtemp(prefix="ipex_plugin_empty_cache_")
    caches = {"before": empty, "after": str(Path(args.after_cache).resolve())}
    bw = copy_bandwidth()
    print(f"{torch.cuda.get_device_name()} torch {torch.__version__} triton {triton.__version__} "
          f"copy {bw / 1e12:.2f} TB/s; after: {caches['after']}", flush=True)
    gen = torch.Generator(device="cuda").manual_seed(1)
    rows = []
    for fmt in args.formats.split(","):
        for k, n in SHAPES:
            w = torch.randn(n, k, device="cuda", generator=gen) * 0.02
            t0 = lowbit_quantize(w, fmt)
            sets = weight_copies(t0)
            wd = dequantize(t0, fmt).double()
            ws = [c["w"] for c in weight_copies({"w": w.half()})]
            for m in (int(v) for v in args.ms.split(",")):
                x = torch.randn(m, k, device="cuda", generator=gen).half()
                ref = x.double() @ wd.T
                times = {"cublas": [], "before": [], "after": []}
                plans, errs = {}, {}
                for _ in range(2):
                    times["cublas"].append(graph_time([lambda ww=ww, x=x: torch.matmul(x, ww.T) for ww in ws]) * 1e6)
                    for name, folder in caches.items():
                        use_cache(folder)
                        y = lowbit_matmul(x, t0, fmt)
                        errs[name] = ((y.double() - ref).norm() / ref.norm()).item()
                        assert errs[name] < REL_BOUND, (fmt, k, n, m, name, errs[name])
                        plans[name] = describe(fmt, m, n, k)
                        times[name].append(graph_time([lambda s=s, x=x, f=fmt: lowbit_matmul(x, s, f)
                                                       for s in sets]) * 1e6)
                beside = fmt == "sym_int4" and (k, n) in PEER_SHAPES
                peers = time_peers(INT4_PEERS, w, x, len(sets)) if beside else {}
                rows.append((fmt, k, n, m, times, errs, plans, peers))
                c, b, a = (min(times[key]) for key in ("cublas", "before", "after"))
                print(f"{fmt} {k}x{n} M={m}: cuBLAS {c:.1f} us, before {c / b:.2f}x ({plans['before']}), "
                      f"after {c / a:.2f}x ({plans['after']})", flush=True)
            del sets
    print(f"\n{'format':9} {'K x N':>12} {'M':>5} {'cuBLAS us':>10} {'before':>7} {'after':>7} "
          f"{'after/before':>12}  plans (before -> after); errors before/after; peers (speedup over cuBLAS)")
    for fmt, k, n, m, t, e, p, peers in rows:
        c, b, a = (min(t[key]) for key in ("cublas", "before", "after"))
        peer_text = "  ".join(f"{name} {c / v:.2f}x" if isinstance(v, float) else f"{name}: {v[:60]}"
                              for name, v in peers.items())
        print(f"{fmt:9} {k:>5}x{n:<6} {m:>5} {c:10.1f} {c / b:6.2f}x {c / a:6.2f}x {b / a:11.2f}x  "
              f"{p['before']} -> {p['after']}; err {e['before']:.1e}/{e['after']:.1e}; {peer_text}")


if __name__ == "__main__":
    main()
