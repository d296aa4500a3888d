"""Instruction mix of the probed GEMVs' main loop, compiled for sm_90 with no GPU (Triton's bundled ptxas).

    python benchmarks/probes/gemv_sass.py perm x4d join i16 pj

Counts the SASS opcodes between the longest backward branch and its target, per thread, for two
configurations of each named variant of ``gemv_layout.py``.
"""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import triton
from triton.backends.compiler import GPUTarget

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.probes import gemv_layout  # noqa: E402

SIGNATURE = dict(x_ptr="*fp16", q_ptr="*i32", s_ptr="*fp16", y_ptr="*fp16", bias_ptr="*fp16", ws_ptr="*fp32",
                 cnt_ptr="*i32", M="i32", N="i32", K="i32", stride_xm="i32", stride_qn="i32", stride_sn="i32",
                 stride_ym="i32")
TYPE_OVERRIDES = {"i16": {"q_ptr": "*i16"}, "pj": {"x_ptr": "*i32"}}


def compile_for_sm90(fn, signature: dict, constexprs: dict, num_warps: int, num_stages: int = 2):
    types = {name: ("constexpr" if name in constexprs else signature[name]) for name in fn.arg_names}
    attrs = {(fn.arg_names.index(n),): [["tt.divisibility", 16]] for n in signature
             if signature[n].startswith("*") or n.startswith("stride")}
    src = triton.compiler.ASTSource(fn=fn, signature=types, constexprs=constexprs, attrs=attrs)
    return triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": num_warps,
                                                                           "num_stages": num_stages})


def resources(kernel) -> str:
    path = tempfile.mktemp(suffix=".cubin")
    Path(path).write_bytes(kernel.asm["cubin"])
    tool = os.path.join(os.path.dirname(triton.__file__), "backends/nvidia/bin/cuobjdump")
    out = subprocess.run([tool, "-res-usage", path], capture_output=True, text=True).stdout
    m = re.search(r"REG:(\d+).*?SHARED:(\d+).*?LOCAL:(\d+)", out)
    return f"registers {m.group(1)}, shared {m.group(2)} B, local {m.group(3)} B" if m else out[-200:]


def loop_opcodes(sass: str) -> collections.Counter:
    """Opcodes of the longest loop (a backward branch to a label) of a SASS listing."""
    lines = sass.splitlines()
    labels = {line.strip()[:-1]: i for i, line in enumerate(lines) if re.match(r"^\s*\.?L\w+:\s*$", line)}
    loop = None
    for i, line in enumerate(lines):
        m = re.search(r"BRA\s+(\.?L\w+);", line)
        if m and m.group(1) in labels and labels[m.group(1)] < i:
            if loop is None or i - labels[m.group(1)] > loop[1] - loop[0]:
                loop = (labels[m.group(1)], i)
    body = lines[loop[0]:loop[1] + 1] if loop else lines
    ops = collections.Counter()
    for line in body:
        m = re.match(r"^[^\t]*\t(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_]*)(\.[A-Z0-9_.]+)?", line)
        if m:
            keep_suffix = m.group(1) in ("LDG", "LDS", "STS", "HFMA2")
            ops[m.group(1) + ((m.group(2) or "") if keep_suffix else "")] += 1
    return ops


def main() -> None:
    for name in sys.argv[1:] or ["perm", "x4d"]:
        fn = getattr(gemv_layout, "gemv_" + name)
        signature = {**{a: SIGNATURE[a] for a in fn.arg_names if a in SIGNATURE}, **TYPE_OVERRIDES.get(name, {})}
        for bn, bk, warps in ((32, 512, 4), (16, 512, 2)):
            consts = dict(BN=bn, BK=bk, SPLIT_K=1, QB=64)
            kernel = compile_for_sm90(fn, signature, consts, warps)
            ops = loop_opcodes(kernel.asm["sass"])
            total = sum(ops.values())
            print(f"{name} BN{bn} BK{bk} warps {warps}: {total} instructions per warp per iteration, "
                  f"{total * 32 * warps / (bn * bk):.2f} per weight per thread; {resources(kernel)}")
            print("   ", ", ".join(f"{op} {n}" for op, n in ops.most_common(16)))


if __name__ == "__main__":
    main()
