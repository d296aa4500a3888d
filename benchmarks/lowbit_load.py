"""Start-up time and peak host memory: quantize-on-load vs a pre-quantized checkpoint.

    IPEX_PLUGIN_HOST_MODE=1 python benchmarks/lowbit_load.py [--low-bit sym_int4]

Each variant runs ``LLM(...)`` plus one 8-token generation in a fresh subprocess; the
table gives wall time and the peak resident set (VmHWM) of the vLLM worker process,
which loads and holds the weights. Host mode, SmolLM2-135M (float32 source weights).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN = """
import sys
from vllm import LLM, SamplingParams
if __name__ == "__main__":
    kwargs = eval(sys.argv[2])
    llm = LLM(model=sys.argv[1], dtype="float32", enforce_eager=True, max_model_len=256, **kwargs)
    llm.generate(["Hello"], SamplingParams(max_tokens=8, temperature=0), use_tqdm=False)
    import psutil
    for child in psutil.Process().children(recursive=True):
        try:
            status = open(f"/proc/{child.pid}/status").read()
        except OSError:
            continue
        hwm = [line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")]
        print("PEAK_PROC_KB", child.name().replace(" ", "_"), hwm[0] if hwm else 0)
"""


def run(model: str, kwargs: dict) -> tuple[float, float]:
    code = (
        "import sys\n"
        f"sys.argv = ['x', {model!r}, {repr(repr(kwargs))}]\n"
        f"exec(compile({RUN!r}, 'run', 'exec'), {{'__name__': '__main__'}})\n"
    )
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - start
    # The vLLM worker process holds the weights; report its own peak (VmHWM) when named.
    procs = {line.split()[1]: int(line.split()[2]) for line in out.splitlines() if line.startswith("PEAK_PROC_KB")}
    worker = max((kb for name, kb in procs.items() if "Worker" in name or "worker" in name), default=0)
    largest = max(procs.values(), default=0)
    return wall, (worker or largest) / 1024


def main() -> None:
    os.environ.setdefault("IPEX_PLUGIN_HOST_MODE", "1")
    ap = argparse.ArgumentParser()
    ap.add_argument("--low-bit", default="sym_int4")
    args = ap.parse_args()
    from vllm_ipex_plugin.demo_model import build_demo_model

    model = str(build_demo_model())
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "prequantized"
        subprocess.run([sys.executable, "-m", "vllm_ipex_plugin.quantize_checkpoint", model, "--low-bit", args.low_bit,
                        "--output", str(pre)], check=True, capture_output=True)
        rows = [
            ("float32, unquantized", run(model, {})),
            (f"{args.low_bit}, quantize on load", run(model, {"quantization": "ipex_low_bit",
                                                             "additional_config": {"low_bit": args.low_bit}})),
            (f"{args.low_bit}, pre-quantized checkpoint", run(str(pre), {})),
        ]
    print(f"\nstart-up + 8 tokens, SmolLM2-135M, host mode ({os.cpu_count()} CPUs); worker peak RSS (VmHWM)")
    print(f"{'variant':40} {'wall s':>7} {'worker peak MiB':>15}")
    for name, (wall, peak) in rows:
        print(f"{name:40} {wall:7.1f} {peak:15.0f}")


if __name__ == "__main__":
    main()
