"""Low-bit GEMM/GEMV benchmark: Triton kernels vs torch.matmul fp16 (cuBLAS), same card, same run.

    python benchmarks/lowbit_gemm.py [--quick] [--json OUT.json]

Checks every kernel against the float64 reference on fresh random inputs first (bound
REL_BOUND, fp16 activations), then times under CUDA graphs with the weights rotated
through enough copies that L2 (50 MB on H100) cannot hold them. Prints per format,
shape (K x N) and M: time, achieved TB/s (weight + activation + output bytes), speedup
over fp16 and fraction of the bandwidth floor (bytes / the device copy rate measured in the same run).
Peers in the same run (``benchmarks/peers.py``): torch's tinygemm int4 op and GemLite A16W4
(asymmetric groups of 64) beside sym_int4/asym_int4, GemLite A16W8 fp8 beside the fp8 formats;
each checked against its own dequantized weights first (bound PEER_BOUND: bf16/fp16 outputs),
then timed like ours. A peer that cannot run here is reported with why.
Also: a decode step (the linear layers of 32 Llama-3-8B layers) and quantize-on-device
throughput. Needs only torch + Triton (no vLLM).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.peers import FP8_PEERS, INT4_PEERS, PeerUnavailable  # noqa: E402
from vllm_ipex_plugin.kernels.common.timing import copy_bandwidth, graph_time, weight_copies  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.dequantize import lowbit_dequantize  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.formats import QUANTIZED  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.gemm import lowbit_gemm  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.gemv import lowbit_gemv  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.matmul import lowbit_matmul  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.quantize_kernel import lowbit_quantize  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.reference import dequantize  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit.reference import quantize as torch_quantize  # noqa: E402


def quantize(w, fmt):
    """The Triton quantize kernel's tensors (what quantize-on-load stores on a GPU)."""
    return lowbit_quantize(w, fmt)

REL_BOUND = 2e-3
PEER_BOUND = 1e-2
FORMATS = [spec.name for spec in QUANTIZED]
SHAPES = [(4096, 4096), (4096, 14336), (14336, 4096), (4096, 128256)]  # (K, N)
MS = [1, 16, 64, 256, 1024]


def weight_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors.values())


def check(fmt, k, n, m, gen) -> float:
    w = torch.randn(n, k, device="cuda", generator=gen)
    t = quantize(w, fmt)
    x = torch.randn(m, k, device="cuda", generator=gen).half()
    y = lowbit_matmul(x, t, fmt)
    ref = x.double() @ dequantize(t, fmt).double().T
    err = ((y.double() - ref).norm() / ref.norm()).item()
    assert torch.isfinite(y).all()
    return err


def check_converted_g32(gen):
    """asym_int4 with 32-column blocks (converted from group-size-32 AWQ/GPTQ) on the GPU kernels."""
    from vllm_ipex_plugin.kernels.lowbit.awq_gptq import pack_int32, to_asym_int4

    out = []
    for k, n in [(4096, 4096), (14336, 4096)]:
        q = torch.randint(0, 16, (n, k), device="cuda", generator=gen)
        z = torch.randint(1, 16, (k // 32, n), device="cuda", generator=gen)
        s = (torch.rand(k // 32, n, device="cuda", generator=gen) * 0.01).half()
        t, _ = to_asym_int4("gptq", {"qweight": pack_int32(q.T.contiguous(), 4, 0), "qzeros": pack_int32(z - 1, 4, 1),
                                     "scales": s, "g_idx": (torch.arange(k, device="cuda") // 32).int()}, 32)
        for m in (1, 16, 300):
            x = torch.randn(m, k, device="cuda", generator=gen).half()
            ref = x.double() @ dequantize(t, "asym_int4").double().T
            y = lowbit_matmul(x, t, "asym_int4")
            err = ((y.double() - ref).norm() / ref.norm()).item()
            assert err < REL_BOUND, f"g32 asym_int4 K={k} M={m}: {err:.2e}"
            out.append(("asym_int4-g32", k, n, m, err))
    return out


def bench_case(fmt, k, n, m, gen, fp16_cache, copy_bw: float):
    w = torch.randn(n, k, device="cuda", generator=gen) * 0.02
    t0 = quantize(w, fmt)
    nbytes = weight_bytes(t0)
    sets = weight_copies(t0)
    x = torch.randn(m, k, device="cuda", generator=gen).half()
    variants = {}
    if m <= 4:
        variants["gemv"] = graph_time([lambda s=s: lowbit_gemv(x, s, fmt) for s in sets])
    if m > 1:
        variants["gemm"] = graph_time([lambda s=s: lowbit_gemm(x, s, fmt) for s in sets])
    if m >= 64:
        variants["dense"] = graph_time(
            [lambda s=s: torch.matmul(x, lowbit_dequantize(s, fmt, x.dtype).T) for s in sets]
        )
    best = min(variants, key=variants.get)
    t_ours = variants[best]
    key = (k, n, m)
    if key not in fp16_cache:
        ws = [c["w"] for c in weight_copies({"w": w.half()})]
        fp16_cache[key] = graph_time([lambda ww=ww: torch.matmul(x, ww.T) for ww in ws])
    t_fp16 = fp16_cache[key]
    peers = _PEERS_OF.get(fmt)
    if peers is not None and (peers, key) not in fp16_cache:
        fp16_cache[(peers, key)] = time_peers(_PEER_SETS[peers], w, x, len(sets))
    peer_us = fp16_cache.get((peers, key), {})
    moved = nbytes + 2 * m * k + 2 * m * n
    floor = max(moved / copy_bw, 2 * m * n * k / 790e12)
    return {
        "fmt": fmt, "K": k, "N": n, "M": m, "us": t_ours * 1e6, "fp16_us": t_fp16 * 1e6, "path": best,
        "variants_us": {key: v * 1e6 for key, v in variants.items()},
        "TBps": moved / t_ours / 1e12, "speedup": t_fp16 / t_ours, "floor_frac": floor / t_ours,
        "peers_us": peer_us, "floor_speedup": t_fp16 / floor,
    }


_PEER_SETS = {"int4": INT4_PEERS, "fp8": FP8_PEERS}
_PEERS_OF = {"sym_int4": "int4", "asym_int4": "int4", "fp8_e4m3": "fp8", "fp8_e5m2": "fp8"}


def time_peers(peers, w, x, copies: int) -> dict[str, float | str]:
    """Microseconds per call of each peer on ``copies`` copies of ``w`` (L2-rotated like ours),
    after checking its output against its own dequantized weights; a string says why not."""
    out: dict[str, float | str] = {}
    for name, build in peers.items():
        try:
            fns = []
            for i in range(copies):
                fn, ref = build(w, x)
                if i == 0:
                    y = fn()
                    want = x.double() @ ref.double().T
                    err = ((y.double() - want).norm() / want.norm()).item()
                    if not err < PEER_BOUND:
                        raise PeerUnavailable(f"output off by {err:.1e} (bound {PEER_BOUND})")
                fns.append(fn)
            out[name] = graph_time(fns) * 1e6
        except PeerUnavailable as e:
            out[name] = str(e)
        except Exception as e:  # a peer's own failure is reported, the benchmark goes on
            out[name] = f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
    return out


def decode_step(fmt, m, gen):
    """Linear layers of 32 Llama-3-8B decoder layers (qkv, o, gate_up, down) at batch m."""
    shapes = [(4096, 6144), (4096, 4096), (4096, 28672), (14336, 4096)]
    layers = []
    for _ in range(32):
        for k, n in shapes:
            layers.append((k, n))
    ws, qs = {}, {}
    for k, n in shapes:
        w = torch.randn(n, k, device="cuda", generator=gen) * 0.02
        ws[(k, n)] = [w.half().clone() for _ in range(4)]
        q = quantize(w, fmt)
        qs[(k, n)] = [{a: b.clone() for a, b in q.items()} for _ in range(4)]
    xs = {k: torch.randn(m, k, device="cuda", generator=gen).half() for k, _ in shapes}
    ours = [lambda k=k, n=n, i=i: lowbit_matmul(xs[k], qs[(k, n)][i % 4], fmt) for i, (k, n) in enumerate(layers)]
    base = [lambda k=k, n=n, i=i: torch.matmul(xs[k], ws[(k, n)][i % 4].T) for i, (k, n) in enumerate(layers)]
    t_ours = graph_time(ours, reps=10) * len(ours)
    t_base = graph_time(base, reps=10) * len(base)
    return {"fmt": fmt, "M": m, "ms": t_ours * 1e3, "fp16_ms": t_base * 1e3, "speedup": t_base / t_ours}


def quantize_throughput(fmt, gen):
    """Seconds to quantize 16 GB of fp16 weights on the device (extrapolated from 2 GiB):
    the Triton kernel vs the same quantizer as torch ops on the GPU. Agreement is checked
    against the torch reference on the CPU for 512 rows: CUDA torch divides by a scalar as a
    multiply by its reciprocal, which is not the IEEE division the reference (and the
    kernel's ``div_rn``) use, so the GPU torch ops are no bit-exact yardstick."""
    w = (torch.randn(16384, 65536, device="cuda", generator=gen) * 0.02).half()  # 2 GiB
    out = {}
    for name, fn in (("triton", lowbit_quantize), ("torch", torch_quantize)):
        fn(w[:64], fmt)
        torch.cuda.synchronize()
        start = time.perf_counter()
        result = fn(w, fmt)
        torch.cuda.synchronize()
        out[name] = (time.perf_counter() - start) * (16e9 / (w.numel() * 2))
        if name == "triton":
            got = {key: t[:512].cpu() for key, t in result.items()}
        del result
    ref = torch_quantize(w[:512].cpu(), fmt)
    out["differing_codes"] = sum(int((got[k] != ref[k]).sum()) for k in ref if not ref[k].is_floating_point())
    out["differing_scales"] = sum(int((got[k] != ref[k]).sum()) for k in ref if ref[k].is_floating_point())
    out["checked_weights"] = 512 * w.shape[1]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="two shapes, M in {1, 16, 256}")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--skip-extras", action="store_true", help="no decode step and no quantize throughput")
    args = ap.parse_args()
    formats = args.formats.split(",")
    shapes = SHAPES[:2] if args.quick else SHAPES
    ms = [1, 16, 256] if args.quick else MS
    gen = torch.Generator(device="cuda").manual_seed(0)
    card = torch.cuda.get_device_name()
    copy_bw = copy_bandwidth()
    print(f"card: {card}; torch {torch.__version__}; triton {__import__('triton').__version__}; "
          f"device copy rate measured now: {copy_bw / 1e12:.2f} TB/s (read + write)")
    errors = []
    for fmt in formats:
        for k, n in [(4096, 4096), (14336, 4096)]:
            for m in (1, 3, 16, 33, 300, 600):
                err = check(fmt, k, n, m, gen)
                errors.append((fmt, k, n, m, err))
                assert err < REL_BOUND, f"{fmt} K={k} N={n} M={m}: rel err {err:.2e}"
    errors += check_converted_g32(gen)
    print(f"correctness: {len(errors)} cases, max rel err {max(e[-1] for e in errors):.2e} (bound {REL_BOUND})")

    rows, fp16_cache = [], {}
    for fmt in formats:
        for k, n in shapes:
            for m in ms:
                rows.append(bench_case(fmt, k, n, m, gen, fp16_cache, copy_bw))
                r = rows[-1]
                print(f"  {fmt} {k}x{n} M={m}: {r['speedup']:.2f}x fp16, peers {r['peers_us']}", flush=True)
    steps = [] if args.skip_extras else [decode_step(fmt, m, gen) for fmt in ("sym_int4", "fp8_e4m3")
                                         for m in (1, 16, 64)]
    quant = {} if args.skip_extras else {fmt: quantize_throughput(fmt, gen) for fmt in FORMATS}
    if args.json:
        args.json.write_text(json.dumps({"card": card, "gemm": rows, "decode": steps, "quant_16GB_s": quant,
                                         "errors": errors}, indent=1))

    print(f"\nweight-only matmul on {card}: ours vs torch.matmul fp16 (cuBLAS), CUDA graphs, L2-rotated weights")
    print(f"{'format':10} {'K x N':>13} {'M':>5} {'path':>6} {'us':>8} {'fp16 us':>8} {'TB/s':>6} "
          f"{'speedup':>8} {'floor':>6}")
    for r in rows:
        print(f"{r['fmt']:10} {r['K']:>6}x{r['N']:<6} {r['M']:>5} {r['path']:>6} {r['us']:8.1f} {r['fp16_us']:8.1f} "
              f"{r['TBps']:6.2f} {r['speedup']:7.2f}x {r['floor_frac']:6.0%}")
    print(f"\npeers on {card}, same run: speedup over torch.matmul fp16 (ours: the plugin's best path; "
          "floor: bytes moved at the copy rate measured now)")
    by_shape: dict = {}
    for r in rows:
        by_shape.setdefault((_PEERS_OF.get(r["fmt"]), r["K"], r["N"], r["M"]), []).append(r)
    for (family, k, n, m), group in by_shape.items():
        if family is None:
            continue
        fp16 = group[0]["fp16_us"]
        ours = "  ".join(f"{r['fmt']} {r['speedup']:.2f}x" for r in group)
        peers = "  ".join(f"{name} {fp16 / v:.2f}x" if isinstance(v, float) else f"{name}: {v}"
                          for name, v in group[0]["peers_us"].items())
        floor = max(r["floor_speedup"] for r in group)
        print(f"{family:5} {k:>6}x{n:<6} M={m:<5} {ours}  |  {peers}  |  floor {floor:.1f}x")
    print("\ndecode step, linear layers of 32 Llama-3-8B layers")
    for s in steps:
        print(f"{s['fmt']:10} batch {s['M']:>3}: {s['ms']:.3f} ms vs fp16 {s['fp16_ms']:.3f} ms = {s['speedup']:.2f}x")
    print("\nquantize 16 GB of fp16 weights on the device (Triton kernel vs torch ops on the GPU; "
          "outputs differing from the CPU reference over 512 rows x 65536)")
    for fmt, q in quant.items():
        print(f"{fmt:10} triton {q['triton']:6.2f} s  torch {q['torch']:6.2f} s  "
              f"codes differing {q['differing_codes']}  scales differing {q['differing_scales']}")


if __name__ == "__main__":
    main()
