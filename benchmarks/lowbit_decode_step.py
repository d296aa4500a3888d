"""Decode step of 32 Llama-3-8B layers' linears (qkv, o, gate_up, down) per low-bit format, one run.

    python benchmarks/lowbit_decode_step.py [--formats sym_int4,asym_int4,fp6,fp8_e4m3,fp8_e5m2] [--ms 1,16]

The plugin's ``lowbit_matmul`` (the shipped tuned table of the card) against cuBLAS fp16 on the same
shapes, both replayed in one CUDA graph over four weight copies per shape (``lowbit_gemm.decode_step``);
each format is first checked against float64 on each of the four shapes (bound 2e-3, fp16
activations). Prints the card, the copy rate measured now, and per format and batch: both times and
the speedup. CUDA only; no peer is timed here (they are, per shape, in ``lowbit_gemm.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import triton

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.lowbit_gemm import REL_BOUND, decode_step  # noqa: E402
from vllm_ipex_plugin.kernels.common.timing import copy_bandwidth  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.matmul import lowbit_matmul  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.quantize_kernel import lowbit_quantize  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.reference import dequantize  # noqa: E402

SHAPES = [(4096, 6144), (4096, 4096), (4096, 28672), (14336, 4096)]  # (K, N) of qkv, o, gate_up, down


def check(fmt: str, m: int, gen: torch.Generator) -> float:
    """The largest relative error of ``lowbit_matmul`` against float64 over the step's shapes."""
    worst = 0.0
    for k, n in SHAPES:
        w = torch.randn(n, k, device="cuda", generator=gen) * 0.02
        t = lowbit_quantize(w, fmt)
        x = torch.randn(m, k, device="cuda", generator=gen).half()
        ref = x.double() @ dequantize(t, fmt).double().T
        err = ((lowbit_matmul(x, t, fmt).double() - ref).norm() / ref.norm()).item()
        assert err < REL_BOUND, (fmt, m, k, n, err)
        worst = max(worst, err)
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--formats", default="sym_int4,asym_int4,fp6,fp8_e4m3,fp8_e5m2")
    ap.add_argument("--ms", default="1,16")
    args = ap.parse_args()
    print(f"{torch.cuda.get_device_name()} torch {torch.__version__} triton {triton.__version__} "
          f"copy {copy_bandwidth() / 1e12:.2f} TB/s", flush=True)
    gen = torch.Generator(device="cuda").manual_seed(3)
    rows = []
    for fmt in args.formats.split(","):
        for m in (int(v) for v in args.ms.split(",")):
            err = check(fmt, m, gen)
            step = decode_step(fmt, m, gen)
            rows.append((fmt, m, step["ms"], step["fp16_ms"], step["speedup"], err))
            print(f"{fmt} batch {m}: {step['ms']:.2f} ms vs fp16 {step['fp16_ms']:.2f} ms = {step['speedup']:.2f}x "
                  f"(max err {err:.1e})", flush=True)
    print(f"\n{'format':9} {'batch':>5} {'ours ms':>8} {'fp16 ms':>8} {'speedup':>8}")
    for fmt, m, ours, base, speedup, _ in rows:
        print(f"{fmt:9} {m:>5} {ours:8.2f} {base:8.2f} {speedup:7.2f}x")


if __name__ == "__main__":
    main()
