"""Ways the tests run vLLM: ``LLM()`` in this process, or Python code in a fresh one.

A fresh process is needed wherever vLLM must pick its platform again (host mode off, a
forced CPU ISA) or where the test asserts what a user sees on stderr and the exit code.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys


def run_python(code: str, *args: str, timeout: float = 600, env: dict[str, str] | None = None,
               **env_changes: str | None) -> subprocess.CompletedProcess:
    """``python -c code args...`` with this environment (or ``env``) changed by ``env_changes``
    (``None`` removes a variable); output captured as text."""
    full_env = dict(os.environ if env is None else env)
    for key, value in env_changes.items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    return subprocess.run([sys.executable, "-c", code, *args], env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def llm_generate(model_path: str, rounds: list[list[str]], *, max_tokens: int, logprobs: int | None = None,
                 **llm_kwargs):
    """Greedy ``LLM.generate`` over ``rounds`` of prompts (one engine, so later rounds can hit
    the prefix cache): ``[(prompt_token_ids, CompletionOutput), ...]`` in prompt order."""
    from vllm import LLM, SamplingParams

    settings = dict(dtype="float32", enforce_eager=True, max_model_len=512, seed=0)
    settings.update(llm_kwargs)
    llm = LLM(model=model_path, **settings)
    params = SamplingParams(max_tokens=max_tokens, temperature=0.0, logprobs=logprobs, ignore_eos=True)
    try:
        results = []
        for prompts in rounds:
            for out in llm.generate(prompts, params, use_tqdm=False):
                results.append((list(out.prompt_token_ids), out.outputs[0]))
        return results
    finally:
        del llm
        gc.collect()
