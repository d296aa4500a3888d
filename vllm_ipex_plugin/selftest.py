"""``python -m vllm_ipex_plugin.selftest``: check the plugin on this machine's card, in one command.

For someone with an Intel GPU (and for CI, in host mode): the plugin's Triton kernels against
the torch reference on small shapes (quantize, bit for bit against the reference run on the
CPU, and matmul of every low-bit format on the GEMV,
fused-GEMM and dequantize paths; paged attention for decode, prefill, a chunk over a cached
prefix, GQA, sliding window and soft-capping), then a short ``LLM()`` generation on the demo
model through the plugin's platform. It prints a report to paste into an issue (the doctor's
report first) and exits non-zero when a check fails.

On a machine without a GPU the kernels run under Triton's interpreter (``TRITON_INTERPRET=1``,
set only while they run, so the engine's processes do not inherit it) in float32; on a GPU in
float16. Bounds: relative error of the low-bit matmul against the float64 product of the
dequantized weight, and max abs error of attention against the float32 reference.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

# (matmul relative error, attention max abs error) per activation dtype.
BOUNDS = {torch.float32: (1e-5, 2e-5), torch.float16: (2e-3, 2e-3)}


@dataclass
class Result:
    name: str
    passed: bool
    detail: str
    seconds: float


def _device() -> torch.device:
    if getattr(torch, "xpu", None) is not None and torch.xpu.is_available():
        return torch.device("xpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def _import_kernels() -> None:
    """Every kernel module, now: under the interpreter, Triton decides interpreted-or-compiled
    when a module's kernels (helpers included) are decorated, so all must be imported inside
    ``_kernels_interpreted`` before anything else imports one."""
    import pkgutil

    root = importlib.import_module("vllm_ipex_plugin.kernels")
    for info in pkgutil.walk_packages(root.__path__, prefix="vllm_ipex_plugin.kernels."):
        if not info.name.endswith(".tuner"):  # the tuner CLI needs a GPU's timers, and no kernel of its own
            importlib.import_module(info.name)


@contextlib.contextmanager
def _kernels_interpreted(device: torch.device) -> Iterator[None]:
    """On the CPU, Triton's interpreter for the kernels (decided when a kernel module is imported)."""
    if device.type != "cpu":
        yield
        return
    previous = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = previous


def _timed(name: str, check: Callable[[], tuple[bool, str]]) -> Result:
    start = time.perf_counter()
    try:
        passed, detail = check()
    except Exception as exc:  # a failed check is a report line, not the end of the report
        passed, detail = False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return Result(name, passed, detail, time.perf_counter() - start)


def _path_name(launches) -> str:
    """Which kernel a planned low-bit launch is, from its tile constants."""
    constexprs = launches[0].constexprs
    if "BM" in constexprs:
        return "fused GEMM"
    return "GEMV" if "SPLIT_K" in constexprs else "dequantize + dense"


def lowbit_checks(device: torch.device, dtype: torch.dtype) -> list[Result]:
    matmul = importlib.import_module("vllm_ipex_plugin.kernels.lowbit.matmul")
    quantize_kernel = importlib.import_module("vllm_ipex_plugin.kernels.lowbit.quantize_kernel")
    from vllm_ipex_plugin.kernels.common.device import device_facts
    from vllm_ipex_plugin.kernels.lowbit.formats import QUANTIZED
    from vllm_ipex_plugin.kernels.lowbit.reference import dequantize, quantize

    bound = BOUNDS[dtype][0]
    gen = torch.Generator().manual_seed(0)
    n, k = 64, 256
    weight = (torch.randn(n, k, generator=gen) * 0.05).to(device, dtype)
    results = []
    for spec in QUANTIZED:
        def quantize_check(spec=spec) -> tuple[bool, str]:
            # The format's definition is the reference on the CPU: torch's own ops on a GPU round
            # a few ties differently (seen on CUDA), the kernel must not.
            ours, ref = quantize_kernel.lowbit_quantize(weight, spec.name), quantize(weight.cpu(), spec.name)
            differ = sum(int((ours[name].cpu().view(torch.uint8) != ref[name].view(torch.uint8)).sum())
                         for name in ref)
            return ours.keys() == ref.keys() and differ == 0, f"{differ} bytes differ from the reference (must be 0)"

        results.append(_timed(f"quantize {spec.name}", quantize_check))
        tensors = quantize(weight, spec.name)
        w64 = dequantize(tensors, spec.name).double()
        for m in (1, 8, 300):  # one batch per path: GEMV, fused GEMM, dequantize + dense matmul
            def matmul_check(m=m, spec=spec, tensors=tensors, w64=w64) -> tuple[bool, str]:
                x = torch.randn(m, k, generator=gen).to(device, dtype)
                y = matmul.lowbit_matmul(x, tensors, spec.name)
                ref = x.double() @ w64.T
                err = ((y.double() - ref).norm() / ref.norm()).item()
                return bool(math.isfinite(err) and err < bound), f"rel err {err:.1e} (bound {bound:.0e})"

            path = _path_name(matmul.plan_launches(spec.name, m, n, k, device_facts(device), x_dtype=dtype))
            results.append(_timed(f"matmul {spec.name} M={m} ({path})", matmul_check))
    return results


ATTENTION_CASES = (
    # name, (heads, kv heads, head size), [(cached tokens, new tokens) per request], window, soft cap
    ("decode", (8, 8, 64), [(37, 1), (80, 1)], None, None),
    ("prefill", (8, 8, 64), [(0, 33), (0, 7)], None, None),
    ("chunk over cached prefix, GQA 4", (8, 2, 128), [(64, 20), (17, 1)], None, None),
    ("sliding window 16", (4, 4, 96), [(40, 9), (0, 30)], 16, None),
    ("soft-cap 30", (4, 1, 64), [(12, 5), (0, 3)], None, 30.0),
)


def attention_checks(device: torch.device, dtype: torch.dtype, block_size: int = 16) -> list[Result]:
    launch = importlib.import_module("vllm_ipex_plugin.kernels.attention.launch")
    from vllm_ipex_plugin.kernels.attention import reference
    from vllm_ipex_plugin.kernels.attention.batch import PagedBatch

    bound = BOUNDS[dtype][1]
    results = []
    for name, (heads, kv_heads, head), requests, window, cap in ATTENTION_CASES:
        def check(heads=heads, kv_heads=kv_heads, head=head, requests=requests, window=window,
                  cap=cap) -> tuple[bool, str]:
            gen = torch.Generator().manual_seed(heads * head)
            blocks = sum(math.ceil((c + n) / block_size) for c, n in requests)
            cache_shape = (blocks, block_size, kv_heads, head)
            key_cache = torch.zeros(cache_shape, dtype=dtype, device=device)
            value_cache = torch.zeros_like(key_cache)
            table = torch.zeros(len(requests), max(math.ceil((c + n) / block_size) for c, n in requests),
                                dtype=torch.int32)
            starts, seq_lens, used = [0], [], 0
            for i, (cached, new) in enumerate(requests):
                total, nb = cached + new, math.ceil((cached + new) / block_size)
                table[i, :nb] = torch.arange(used, used + nb, dtype=torch.int32)
                slots = torch.tensor([int(table[i, p // block_size]) * block_size + p % block_size
                                      for p in range(total)], device=device)
                keys = torch.randn(total, kv_heads, head, generator=gen).to(device, dtype)
                values = torch.randn(total, kv_heads, head, generator=gen).to(device, dtype)
                launch.write_kv_cache(keys, values, key_cache, value_cache, slots)
                used += nb
                starts.append(starts[-1] + new)
                seq_lens.append(total)
            query = torch.randn(starts[-1], heads, head, generator=gen).to(device, dtype)
            qsl = torch.tensor(starts, dtype=torch.int32, device=device)
            lens = torch.tensor(seq_lens, dtype=torch.int32, device=device)
            table = table.to(device)
            expected = torch.empty(query.shape, dtype=torch.float32, device=device)
            reference.paged_attention(query.float(), key_cache.float(), value_cache.float(),
                                      PagedBatch(qsl, lens, table, len(requests)), head**-0.5, expected, window, cap)
            out = torch.full_like(query, float("nan"))
            launch.paged_attention(query, key_cache, value_cache, qsl, lens, table, len(requests),
                                   max(n for _, n in requests), head**-0.5, out, window, cap)
            err = (out.float() - expected).abs().max().item()
            return bool(math.isfinite(err) and err < bound), f"max abs err {err:.1e} (bound {bound:.0e})"

        results.append(_timed(f"attention {name}", check))
    return results


LLM_PROMPT = "The capital of France is"


def llm_check(model: str | None) -> Result:
    def check() -> tuple[bool, str]:
        from vllm import LLM, SamplingParams

        from vllm_ipex_plugin.demo_model import build_demo_model

        path = model or str(build_demo_model())
        llm = LLM(model=path, max_model_len=512, enforce_eager=True, seed=0)
        platform = type(importlib.import_module("vllm.platforms").current_platform).__name__
        start = time.perf_counter()
        out = llm.generate([LLM_PROMPT], SamplingParams(temperature=0.0, max_tokens=16))[0].outputs[0]
        rate = len(out.token_ids) / (time.perf_counter() - start)
        text = " ".join(out.text.split())
        plugin = platform.startswith("Xpu")
        ok = plugin and (model is not None or "Paris" in text)
        return ok, f"platform {platform}, {rate:.1f} tokens/s: {LLM_PROMPT!r} -> {text!r}"

    return _timed("LLM() greedy on " + (model or "the demo model"), check)


def render(results: list[Result], header: str) -> str:
    lines = ["```", header, "", "[selftest]"]
    width = max(len(r.name) for r in results)
    for r in results:
        lines.append(f"  {'PASS' if r.passed else 'FAIL'}  {r.name.ljust(width)}  {r.seconds:6.1f} s  {r.detail}")
    failed = sum(not r.passed for r in results)
    lines.append(f"{len(results) - failed} of {len(results)} checks passed" + (f"; {failed} FAILED" if failed else ""))
    lines.append("```")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vllm_ipex_plugin.selftest", description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder for the LLM() check (default: the demo model)")
    parser.add_argument("--skip-llm", action="store_true", help="kernel checks only")
    args = parser.parse_args(argv)

    device = _device()
    with _kernels_interpreted(device):
        _import_kernels()
    from vllm_ipex_plugin.doctor import diagnose

    doctor = diagnose()
    dtype = torch.float32 if device.type == "cpu" else torch.float16
    results: list[Result] = []
    with _kernels_interpreted(device):
        results += lowbit_checks(device, dtype)
        results += attention_checks(device, dtype)
    if not args.skip_llm:
        if doctor.problem is None:
            results.append(llm_check(args.model))
        else:
            results.append(Result("LLM()", False, f"not run: {doctor.problem}", 0.0))
    if device.type == "cpu":
        kernels_on = "kernels on the CPU (Triton interpreter, float32)"
    else:
        kernels_on = f"kernels on {getattr(torch, device.type).get_device_name()} (float16)"
    print(render(results, doctor.render() + "\n" + kernels_on))
    sys.stdout.flush()
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
