"""Serve the demo model with the plugin and ask it one question over the OpenAI API.

Usage: python examples/serve_and_chat.py ["your question"]
Starts `vllm serve` (the stock OpenAI server) on SmolLM2-135M-Instruct, prints the
answer, stops the server. Host mode (IPEX_PLUGIN_HOST_MODE=1) runs it on the CPU.
"""

from __future__ import annotations

import sys
import tempfile

import openai

from vllm_ipex_plugin.demo_model import build_demo_model
from vllm_ipex_plugin.testing import VllmServer, free_port

API_KEY = "demo-key"


def main() -> None:
    question = sys.argv[1] if len(sys.argv) > 1 else "What is the capital of France?"
    model = str(build_demo_model())
    log = tempfile.NamedTemporaryFile(prefix="vllm-serve-", suffix=".log", delete=False).name
    args = ["--api-key", API_KEY, "--served-model-name", "smollm2", "--max-model-len", "2048",
            "--enforce-eager"]
    print(f"starting vllm serve on {model} (log: {log}) ...", flush=True)
    with VllmServer(model, args, free_port(), log) as server:
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key=API_KEY)
        reply = client.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": question}],
            max_tokens=64,
            temperature=0,
        )
        print(f"Q: {question}")
        print(f"A: {reply.choices[0].message.content.strip()}")


if __name__ == "__main__":
    main()
