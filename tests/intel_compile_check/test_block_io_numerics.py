"""The fused GEMM's block-pointer activation read (``X_BLOCK_IO``, what PVC and BMG run) against the
float64 reference, under the interpreter of triton-xpu: the Triton that compiles it for Intel.

The project's own Triton (3.9) has no block pointers any more, so its interpreter cannot run this
path; triton-xpu 3.3, which the offline compile check installs, can. The run happens in a child
process with triton-xpu first on ``PYTHONPATH`` (as the compile driver runs), every quantized
format, plain and swapped tiles, split K 1 and 2, a batch that is not a multiple of the tile.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tools.intel_compile import runner
from vllm_ipex_plugin import envs

REL_BOUND = 1e-5  # as the project's interpreter tests of the same kernel (fp32 accumulation order only)

CHILD = r"""
import json, zlib
import torch, triton
from vllm_ipex_plugin.kernels.lowbit import gemm
from vllm_ipex_plugin.kernels.lowbit.formats import QUANTIZED
from vllm_ipex_plugin.kernels.lowbit.reference import dequantize, quantize

rows = []
for spec in QUANTIZED:
    gen = torch.Generator().manual_seed(zlib.crc32(spec.name.encode()))
    m, n, k = 33, 96, 256
    tensors = quantize(torch.randn(n, k, generator=gen), spec.name)
    x = torch.randn(m, k, generator=gen)
    ref = x.double() @ dequantize(tensors, spec.name).double().T
    for swap in (False, True):
        for split in (1, 2):
            launch = gemm.gemm_launch(spec, m, n, k, {"BM": 16, "BN": 64, "BK": 64, "SPLIT_K": split, "num_warps": 4,
                                                      "num_stages": 2, "SWAP": swap, "X_BLOCK_IO": True})
            y = gemm.run_gemm(launch, x, tensors, spec)
            err = ((y.double() - ref).norm() / ref.norm()).item()
            rows.append([spec.name, swap, split, launch.constexprs["X_BLOCK_IO"], err])
print("RESULT " + json.dumps({"triton": triton.__version__, "rows": rows}))
"""

def _run_under_triton_xpu(code: str) -> dict:
    try:
        toolchain = runner.ensure_toolchain()
    except runner.ToolchainError as e:
        pytest.fail(f"toolchain.sh failed ({e}); set {envs.SKIP_INTEL_COMPILE}=1 to skip the offline Intel compile")
    env = {**os.environ, "TRITON_INTERPRET": "1",
           "PYTHONPATH": os.pathsep.join([str(toolchain / "triton-xpu"), str(runner.REPO_ROOT)])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=1800,
                          cwd=runner.REPO_ROOT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["triton"].startswith("3.3"), result["triton"]  # triton-xpu's interpreter, not the project's
    assert result["rows"]
    return result


skip_without_intel_compile = pytest.mark.skipif(envs.skip_intel_compile(), reason=f"{envs.SKIP_INTEL_COMPILE}=1")


@skip_without_intel_compile
def test_block_pointer_activation_read_matches_the_reference_under_triton_xpu():
    rows = _run_under_triton_xpu(CHILD)["rows"]
    bad = [row for row in rows if not (row[3] is True and row[4] < REL_BOUND)]
    assert not bad, bad
