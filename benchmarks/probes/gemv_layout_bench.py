"""The shipped sym_int4 M=1 GEMV vs the probed layouts (``gemv_layout.py``) in one run (CUDA).

    python benchmarks/probes/gemv_layout_bench.py

Each variant is checked against float64 (bound 2e-3) at every configuration before it is timed;
the best of 24 configurations is timed again and compared with cuBLAS fp16 and the shipped table.
"""

from __future__ import annotations

import itertools
import sys
from functools import partial
from pathlib import Path

import torch
import triton

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.probes import gemv_layout  # noqa: E402
from vllm_ipex_plugin.kernels.common.timing import copy_bandwidth, graph_time, weight_copies  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.gemv import lowbit_gemv  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.launch import split_workspace  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.quantize_kernel import lowbit_quantize  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.reference import dequantize  # noqa: E402

SHAPES = [(4096, 4096), (4096, 14336), (14336, 4096), (4096, 128256)]  # (K, N)
CONFIGS = [dict(BN=bn, BK=bk, nw=nw, ns=2, SK=sk)
           for bn, bk, nw, sk in itertools.product((16, 32), (256, 512), (2, 4), (1, 2, 4))]
BOUND = 2e-3


def perm_payload(q: torch.Tensor) -> torch.Tensor:
    """IPEX bytes ``[N, K/2]`` as int32 words permuted per 4-word chunk: word i, nibble c = column 4c + i."""
    n = q.shape[0]
    codes = torch.stack([q & 15, q >> 4], dim=-1).reshape(n, -1).to(torch.int32)
    k = codes.shape[1]
    chunks = codes.view(n, k // 32, 8, 4)
    words = torch.zeros(n, k // 32, 4, dtype=torch.int32, device=q.device)
    for c in range(8):
        words |= chunks[:, :, c, :] << (4 * c)
    return words.reshape(n, k // 8).contiguous()


def run_variant(fn, x: torch.Tensor, qw: torch.Tensor, s: torch.Tensor, cfg: dict) -> torch.Tensor:
    m, k = x.shape
    n = qw.shape[0]
    y = torch.empty((m, n), device=x.device, dtype=x.dtype)
    ws, counts = split_workspace(x.device, m * n, m * triton.cdiv(n, cfg["BN"]))
    fn[(triton.cdiv(n, cfg["BN"]), m, cfg["SK"])](
        x, qw, s, y, y, ws, counts, m, n, k, x.stride(0), qw.stride(0), s.stride(0), y.stride(0),
        BN=cfg["BN"], BK=cfg["BK"], SPLIT_K=cfg["SK"], QB=64, num_warps=cfg["nw"], num_stages=cfg["ns"])
    return y


def rel_err(y: torch.Tensor, ref: torch.Tensor) -> float:
    return ((y.double() - ref).norm() / ref.norm()).item()


def best_config(fn, x, operands, ref, k):
    best = None
    for cfg in CONFIGS:
        if k // cfg["SK"] < cfg["BK"]:
            continue
        err = rel_err(run_variant(fn, x, *operands[0], cfg), ref)
        if not err < BOUND:
            print(f"  {fn.__name__} {cfg}: wrong, error {err:.1e}")
            continue
        us = graph_time([partial(run_variant, fn, x, *ops, cfg) for ops in operands], reps=10) * 1e6
        if best is None or us < best[0]:
            best = (us, cfg, err)
    return best


def main() -> None:
    bw = copy_bandwidth()
    print(f"{torch.cuda.get_device_name()} torch {torch.__version__} triton {triton.__version__} "
          f"copy {bw / 1e12:.2f} TB/s")
    gen = torch.Generator(device="cuda").manual_seed(1)
    rows = []
    for k, n in SHAPES:
        w = torch.randn(n, k, device="cuda", generator=gen, dtype=torch.float16) * 0.02
        x = torch.randn(1, k, device="cuda", generator=gen, dtype=torch.float16)
        t = lowbit_quantize(w, "sym_int4")
        ref = x.double() @ dequantize(t, "sym_int4").double().T
        copies = weight_copies(t)
        dense = weight_copies({"w": w})
        times = {"cuBLAS": graph_time([partial(torch.matmul, x, c["w"].T) for c in dense]) * 1e6,
                 "shipped": graph_time([partial(lowbit_gemv, x, c, "sym_int4") for c in copies]) * 1e6}
        err = rel_err(lowbit_gemv(x, t, "sym_int4"), ref)
        print(f"K{k} N{n}: cuBLAS {times['cuBLAS']:.2f} us, shipped {times['shipped']:.2f} us "
              f"({times['cuBLAS'] / times['shipped']:.2f}x) err {err:.1e}", flush=True)
        variants = {
            "perm": (gemv_layout.gemv_perm, [(perm_payload(c["qweight"]), c["scales"]) for c in copies]),
            "x4d": (gemv_layout.gemv_x4d, [(c["qweight"].view(torch.int32), c["scales"]) for c in copies]),
        }
        for name, (fn, operands) in variants.items():
            best = best_config(fn, x, operands, ref, k)
            if best is None:
                continue
            _, cfg, err = best
            us = graph_time([partial(run_variant, fn, x, *ops, cfg) for ops in operands]) * 1e6
            times[name] = us
            print(f"  {name}: best {us:.2f} us ({times['cuBLAS'] / us:.2f}x cuBLAS, "
                  f"{times['shipped'] / us:.2f}x shipped) {cfg} err {err:.1e}", flush=True)
        rows.append((k, n, times))
    print("\nshape        cuBLAS  shipped   perm    x4d   (speedup over cuBLAS)")
    for k, n, t in rows:
        cells = " ".join(f"{t['cuBLAS'] / t[c]:6.2f}x" if c in t else "   n/a " for c in ("shipped", "perm", "x4d"))
        print(f"{k}x{n:<7} {t['cuBLAS']:7.2f} {cells}")


if __name__ == "__main__":
    main()
