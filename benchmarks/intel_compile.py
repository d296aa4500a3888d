"""Every kernel launch the plugin plans for Intel GPUs, compiled offline for PVC, BMG and DG2.

    python benchmarks/intel_compile.py [--arch pvc --arch dg2] [--out TABLE.md] [--jobs N]

No Intel GPU is needed: Intel's Triton backend (triton-xpu) lowers each planned launch
(``tools/intel_compile/cases.py``: a Llama-3-8B-shaped model, every low-bit format, batch
bucket and attention step) to SPIR-V and Intel's offline compiler builds the native binary.
Prints one row per distinct compilation (builds, GRF mode, spill bytes, DPAS and 2D block-IO
instruction counts, compile seconds), then a summary per kernel and arch against the spill
budget the test suite enforces. Results are cached (``$IPEX_PLUGIN_CACHE/intel_compile``), so a
second run only rebuilds what changed.

What this cannot show: numerics or speed on a card, and anything that differs between
triton-xpu 3.3 (the Intel Triton on PyPI) and the 3.6+ a current PyTorch XPU build ships.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.intel_compile import runner  # noqa: E402
from tools.intel_compile.cases import plugin_cases  # noqa: E402
from tools.intel_compile.check import SPILL_BUDGET  # noqa: E402


def summary(results: list[dict]) -> str:
    """Per (kernel, arch): compilations, how many build, worst spill, DPAS use, compile time."""
    rows = collections.defaultdict(list)
    for r in results:
        rows[(r["case"]["function"], r["arch"])].append(r)
    out = ["| kernel | arch | configs | build | within budget | max spill B | with DPAS | 2D block loads | "
           "compile s (sum) |", "|---|---|---|---|---|---|---|---|---|"]
    for (fn, arch), rs in sorted(rows.items()):
        ok = [r for r in rs if r.get("native_ok") and not r.get("error") and not r.get("undefined_imports")]
        within = [r for r in ok if (r.get("spill_bytes") or 0) <= SPILL_BUDGET[arch]]
        spill = max((r.get("spill_bytes") or 0) for r in ok) if ok else "-"
        dpas = sum(1 for r in ok if (r.get("dpas_count") or 0) > 0)
        block2d = sum(r.get("block2d_load_count") or 0 for r in ok)
        secs = sum(r.get("compile_seconds") or 0 for r in rs)
        out.append(f"| {fn} | {arch} | {len(rs)} | {len(ok)} | {len(within)} | {spill} | {dpas} | {block2d} | "
                   f"{secs:.0f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", action="append", choices=runner.ARCHS)
    parser.add_argument("--out", type=Path, help="also write the tables (markdown) here")
    parser.add_argument("--jobs", type=int)
    args = parser.parse_args(argv)
    archs = tuple(args.arch or runner.ARCHS)
    t0 = time.time()
    cases = plugin_cases(archs)
    results = runner.run_cases(cases, jobs=args.jobs)
    elapsed = time.time() - t0
    cached = sum(1 for r in results if r.get("from_cache"))
    failures = runner.check(results, SPILL_BUDGET)
    text = "\n\n".join([
        runner.format_table(results),
        f"{len(results)} compilations ({cached} from the cache) in {elapsed:.0f} s; budget (spill bytes): "
        + ", ".join(f"{a} {SPILL_BUDGET[a]}" for a in archs),
        summary(results),
        "over budget or not built:\n" + ("\n".join(failures) if failures else "none"),
    ])
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
