"""M=1 A/B of the low-bit GEMV in one process: the entries of an earlier tuning table vs the current one.

    python benchmarks/lowbit_gemv_ab.py --before OLD_TABLE.json [--formats sym_int4,asym_int4,fp8_e4m3]

``OLD_TABLE.json``: a tuning table as shipped (``tuning/shipped/<device>.json``; e.g. from
``git show <rev>:vllm_ipex_plugin/kernels/lowbit/tuning/shipped/nvidia_h200.json``; a shape it lacks is
timed at the device's heuristic configuration, which is what that table gave it). For each format on the
Llama-3-8B linear shapes: cuBLAS fp16, ``lowbit_gemv`` at the old entry ("before")
and at the current table ("after"), each checked against float64 first (bound 2e-3, fp16
activations), then timed like ``lowbit_gemm.py`` (CUDA graphs over L2-rotated weight copies, median
of 20 replays), twice, the better pass reported (both passes printed). The peers
(``benchmarks/peers.py``) are timed on the four scoreboard shapes beside sym_int4 (int4 peers) and
fp8_e4m3 (fp8 peers). CUDA only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import triton

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.lowbit_gemm import REL_BOUND, time_peers  # noqa: E402
from benchmarks.peers import FP8_PEERS, INT4_PEERS  # noqa: E402
from vllm_ipex_plugin.kernels.common.device import device_facts  # noqa: E402
from vllm_ipex_plugin.kernels.common.timing import copy_bandwidth, graph_time, weight_copies  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.gemv import KERNEL_KEYS, lowbit_gemv  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.quantize_kernel import lowbit_quantize  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.reference import dequantize  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.tuning import table  # noqa: E402

SHAPES = [(4096, 4096), (4096, 14336), (14336, 4096), (4096, 128256), (4096, 6144), (4096, 28672)]  # (K, N)
PEER_SHAPES = SHAPES[:4]
# Kernel choices a table entry can make; an old entry names only its own, so the others are switched off.
CHOICES = dict.fromkeys(KERNEL_KEYS, False)
PEERS_BESIDE = {"sym_int4": INT4_PEERS, "fp8_e4m3": FP8_PEERS}


def kernel_of(cfg: dict) -> str:
    return "h16" if cfg.get("H16") else "w4" if cfg.get("W4") else "pairs" if cfg.get("PAIRS") else "generic"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True, help="the earlier tuning table (JSON)")
    ap.add_argument("--formats", default="sym_int4,asym_int4")
    args = ap.parse_args()
    before = json.loads(args.before.read_text())["configs"]
    facts = device_facts(torch.device("cuda"))
    bw = copy_bandwidth()
    print(f"{torch.cuda.get_device_name()} torch {torch.__version__} triton {triton.__version__} "
          f"copy {bw / 1e12:.2f} TB/s; before: {args.before.name}")
    gen = torch.Generator(device="cuda").manual_seed(1)
    rows = []
    for fmt in args.formats.split(","):
        for k, n in SHAPES:
            w = torch.randn(n, k, device="cuda", generator=gen) * 0.02
            t0 = lowbit_quantize(w, fmt)
            sets = weight_copies(t0)
            x = torch.randn(1, k, device="cuda", generator=gen).half()
            ref = x.double() @ dequantize(t0, fmt).double().T
            # a shape the earlier table lacks got the device's heuristics then
            old_entry = before.get(table.entry_key("gemv", fmt, 1, n, k)) or table.heuristic_config(
                "gemv", 1, n, k, facts)
            old = {**CHOICES, **{a: v for a, v in old_entry.items() if a != "us"}}
            new = table.config_for("gemv", fmt, 1, n, k, facts)
            errs = {}
            for name, cfg in (("before", old), ("after", {})):
                y = lowbit_gemv(x, t0, fmt, **cfg)
                errs[name] = ((y.double() - ref).norm() / ref.norm()).item()
                assert errs[name] < REL_BOUND, (fmt, k, n, name, errs[name])
            ws = [c["w"] for c in weight_copies({"w": w.half()})]
            times = {"cublas": [], "before": [], "after": []}
            calls = {"cublas": [lambda ww=ww, x=x: torch.matmul(x, ww.T) for ww in ws],
                     "before": [lambda s=s, x=x, f=fmt, c=old: lowbit_gemv(x, s, f, **c) for s in sets],
                     "after": [lambda s=s, x=x, f=fmt: lowbit_gemv(x, s, f) for s in sets]}
            for _ in range(2):
                for key, fns in calls.items():
                    times[key].append(graph_time(fns) * 1e6)
            beside = fmt in PEERS_BESIDE and (k, n) in PEER_SHAPES
            peers = time_peers(PEERS_BESIDE[fmt], w, x, len(sets)) if beside else {}
            cfgs = (f"{kernel_of(new)} BN{new['BN']} BK{new['BK']} nw{new['num_warps']} SK{new['SPLIT_K']} "
                    f"(before: {kernel_of(old)} BN{old['BN']} BK{old['BK']} nw{old['num_warps']} SK{old['SPLIT_K']})")
            rows.append((fmt, k, n, times, errs, cfgs, peers))
            del sets
    print(f"\n{'format':9} {'K x N':>12} {'cuBLAS us':>10} {'before us':>10} {'after us':>10} {'before':>7} "
          f"{'after':>7} {'after/before':>12}  configs; both passes (us); errors before/after")
    for fmt, k, n, t, e, cfgs, _ in rows:
        c, b, a = (min(t[key]) for key in ("cublas", "before", "after"))
        passes = "; ".join(f"{key} {'/'.join(f'{v:.1f}' for v in t[key])}" for key in ("before", "after"))
        print(f"{fmt:9} {k:>5}x{n:<6} {c:10.2f} {b:10.2f} {a:10.2f} {c / b:6.2f}x {c / a:6.2f}x {b / a:11.2f}x  "
              f"{cfgs}; {passes}; err {e['before']:.1e}/{e['after']:.1e}")
    print("\npeers at M=1, same run (speedup over the cuBLAS time above; each checked against its own "
          "dequantized weights)")
    for fmt, k, n, t, _, _, peers in rows:
        if peers:
            c = min(t["cublas"])
            print(f"{fmt:9} {k:>5}x{n:<6} " + "  ".join(f"{name} {v:.2f} us = {c / v:.2f}x" if isinstance(v, float)
                                              else f"{name}: {v}" for name, v in peers.items()))


if __name__ == "__main__":
    main()
