"""Load on the plugin's OpenAI server: wrk with IPEX-LLM's payload-1024 shape, then the openai client.

    python benchmarks/serve_load.py [--low-bit sym_int4] [--concurrency 1,4,8] [--seconds 120]

Starts the server in host mode (the demo model, ``ipex_low_bit``, an API key), checks one
completion with the ``openai`` client, then drives ``examples/payload-1024.lua`` (about 1k
prompt tokens, exactly 128 out) with ``wrk`` (Debian package ``wrk``) at each concurrency
for a bounded time. Per round: requests, every response 200 and well formed (the Lua script
checks the body), latency p50 / p99 as wrk measures it, requests/s and output tokens/s, and
the server's resident memory (all its processes) after the round, which must stay flat.
Prints a table last. Host mode is for correctness, not speed: the figures say that the
server holds under concurrent load and how memory behaves, not how fast an Intel GPU is.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.harness.server import VllmServer, free_port  # noqa: E402

API_KEY = "load-test-key"
SERVED = "smollm2"
OUTPUT_TOKENS = 128
_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * _UNIT[unit]


def parse_wrk(output: str) -> dict:
    """The figures of ``wrk --latency`` output and the payload script's response counts."""
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    latency = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)\s*$", output, re.M))
    counts = re.search(r"responses well-formed: (\d+), other: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)$", output, re.M)
    return {
        "requests": requests,
        "well_formed": int(counts.group(1)), "other": int(counts.group(2)),
        "p50_ms": _ms(latency["50"]) if "50" in latency else float("nan"),
        "p99_ms": _ms(latency["99"]) if "99" in latency else float("nan"),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "socket_errors": errors.group(1).strip() if errors else "none",
    }


def resident_mib(pid: int) -> float:
    import psutil

    root = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--low-bit", default="sym_int4")
    parser.add_argument("--concurrency", default="1,4,8")
    parser.add_argument("--seconds", type=int, default=120, help="wrk duration per round")
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("serve_load.py needs wrk (Debian: apt-get install wrk)")

    import openai

    from vllm_ipex_plugin.demo_model import build_demo_model

    model = str(build_demo_model())
    env = dict(os.environ, IPEX_PLUGIN_HOST_MODE="1")
    log = Path(tempfile.mkdtemp()) / "serve.log"
    server_args = ["--api-key", API_KEY, "--served-model-name", SERVED, "--dtype", "float32", "--max-model-len", "2048",
                   "--quantization", "ipex_low_bit", "--load-in-low-bit", args.low_bit, "--max-num-seqs", "8"]
    rows = []
    with VllmServer(model, server_args, free_port(), str(log), env=env) as server:
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key=API_KEY, max_retries=0)
        reply = client.completions.create(model=SERVED, prompt="The capital of France is", max_tokens=8,
                                          temperature=0)
        assert reply.choices[0].text and reply.usage.completion_tokens == 8, reply
        print(f"openai client: {reply.choices[0].text!r} ({reply.usage.completion_tokens} tokens)")
        baseline = resident_mib(server.proc.pid)
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            cmd = [wrk, "-t1", f"-c{concurrency}", f"-d{args.seconds}s", "--timeout", "600s", "--latency",
                   "-s", str(REPO / "examples" / "payload-1024.lua"), server.base_url + "/v1/completions"]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, MODEL=SERVED,
                                                                                  API_KEY=API_KEY))
            if proc.returncode != 0:
                raise SystemExit(f"wrk failed ({proc.returncode}): {proc.stderr[-2000:]}")
            row = parse_wrk(proc.stdout)
            row["concurrency"] = concurrency
            row["rss_mib"] = resident_mib(server.proc.pid)
            rows.append(row)
            print(proc.stdout, proc.stderr[-1000:], flush=True)
        health = client.with_options(max_retries=0).models.list()
        assert any(m.id == SERVED for m in health.data)
    print(f"\nhost mode (CPU: {os.cpu_count()} cores), demo model, ipex_low_bit {args.low_bit}, "
          f"payload-1024 (128 tokens out), {args.seconds} s per round; resident memory before: {baseline:.0f} MiB")
    print("| concurrency | requests | well-formed / other | p50 ms | p99 ms | req/s | out tok/s | socket errors | "
          "resident MiB after |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['concurrency']} | {r['requests']} | {r['well_formed']} / {r['other']} | {r['p50_ms']:.0f} | "
              f"{r['p99_ms']:.0f} | {r['rps']:.3f} | {r['rps'] * OUTPUT_TOKENS:.1f} | {r['socket_errors']} | "
              f"{r['rss_mib']:.0f} |")
    bad = sum(r["other"] for r in rows)
    return 1 if bad or any(r["well_formed"] == 0 for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
