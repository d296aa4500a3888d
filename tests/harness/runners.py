"""Ways the tests run vLLM: ``LLM()`` in this process, or Python code in a fresh one.

A fresh process is needed wherever vLLM must pick its platform again (host mode off, a
forced CPU ISA) or where the test asserts what a user sees on stderr and the exit code.

One runner of each kind: ``with_llm`` (every in-process ``LLM``) and ``run_python`` /
``run_python_module`` (every subprocess); ``llm_in_subprocess`` is ``LLM()`` through the latter.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Sequence

# The tests' LLM() settings: float32 compute, eager, short context, fixed seed.
LLM_SETTINGS = dict(dtype="float32", enforce_eager=True, max_model_len=512, seed=0)
# vLLM's switch between an engine core in its own process (unset, "1") and in the caller's ("0").
IN_PROCESS_SWITCH = "VLLM_ENABLE_V1_MULTIPROCESSING"


def _run(argv: list[str], timeout: float, env: dict[str, str] | None,
         env_changes: dict[str, str | None]) -> subprocess.CompletedProcess:
    full_env = dict(os.environ if env is None else env)
    for key, value in env_changes.items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    return subprocess.run([sys.executable, *argv], env=full_env, capture_output=True, text=True, timeout=timeout)


def run_python(code: str, *args: str, timeout: float = 600, env: dict[str, str] | None = None,
               **env_changes: str | None) -> subprocess.CompletedProcess:
    """``python -c code args...`` with this environment (or ``env``) changed by ``env_changes``
    (``None`` removes a variable); output captured as text."""
    return _run(["-c", code, *args], timeout, env, env_changes)


def run_python_module(module: str, *args: str, timeout: float = 600, env: dict[str, str] | None = None,
                      **env_changes: str | None) -> subprocess.CompletedProcess:
    """``python -m module args...``, otherwise as ``run_python``."""
    return _run(["-m", module, *args], timeout, env, env_changes)


def with_llm(model_path: str, use, **llm_kwargs):
    """``use(llm)`` on ``LLM(model_path, ...)`` with ``LLM_SETTINGS`` (``llm_kwargs`` override or
    add); the engine is released before this returns ``use``'s result.

    The engine core runs in this process (vLLM's ``VLLM_ENABLE_V1_MULTIPROCESSING=0``): a spawned
    engine core re-imports vLLM and torch, which costs more on a 2-core CI machine than the tiny
    models' whole run. The default, an engine core (and host worker) in processes of their own, is
    what ``vllm serve``, ``llm_in_subprocess`` and the examples run. An in-process engine core
    switches on vLLM's environment cache (``vllm.envs.enable_envs_cache``); it is switched off
    again here so the next test's environment is read afresh.
    """
    from vllm import LLM, envs

    saved = os.environ.get(IN_PROCESS_SWITCH)
    os.environ[IN_PROCESS_SWITCH] = "0"
    try:
        llm = LLM(model=model_path, **{**LLM_SETTINGS, **llm_kwargs})
        try:
            return use(llm)
        finally:
            del llm
            gc.collect()
    finally:
        if saved is None:
            os.environ.pop(IN_PROCESS_SWITCH, None)
        else:
            os.environ[IN_PROCESS_SWITCH] = saved
        envs.disable_envs_cache()


def greedy_params(max_tokens: int, logprobs: int | None = None):
    """Greedy sampling of exactly ``max_tokens`` tokens (EOS ignored)."""
    from vllm import SamplingParams

    return SamplingParams(max_tokens=max_tokens, temperature=0.0, logprobs=logprobs, ignore_eos=True)


def prompt_logprobs(llm, text: str) -> tuple[list[int], list[float]]:
    """``text``'s token ids and the logprob vLLM gives each token after the first (prompt logprobs)."""
    from vllm import SamplingParams

    out = llm.generate([text], SamplingParams(max_tokens=1, prompt_logprobs=0), use_tqdm=False)[0]
    ids = list(out.prompt_token_ids)
    return ids, [out.prompt_logprobs[i][ids[i]].logprob for i in range(1, len(ids))]


def llm_generate(model_path: str, rounds: list[list[str]], *, max_tokens: int, logprobs: int | None = None,
                 **llm_kwargs):
    """Greedy ``LLM.generate`` over ``rounds`` of prompts (one engine, so later rounds can hit
    the prefix cache): ``[(prompt_token_ids, CompletionOutput), ...]`` in prompt order."""

    def use(llm):
        params = greedy_params(max_tokens, logprobs)
        return [(list(out.prompt_token_ids), out.outputs[0])
                for prompts in rounds for out in llm.generate(prompts, params, use_tqdm=False)]

    return with_llm(model_path, use, **llm_kwargs)


def llm_greedy(model_path: str, prompts: list[str], *, max_tokens: int, **llm_kwargs) -> list[tuple[list, list]]:
    """Greedy tokens of one round: ``[(prompt_token_ids, token_ids), ...]``."""
    results = llm_generate(model_path, [prompts], max_tokens=max_tokens, **llm_kwargs)
    return [(prompt_ids, list(completion.token_ids)) for prompt_ids, completion in results]


_LLM_CHILD = """
import json, sys
from vllm import LLM, SamplingParams
from vllm.platforms import current_platform

if __name__ == "__main__":  # vLLM's spawned processes must not run this again
    settings, prompts, max_tokens = json.loads(sys.argv[1])
    llm = LLM(**settings)
    outs = llm.generate(prompts, SamplingParams(max_tokens=max_tokens, temperature=0.0, ignore_eos=True),
                        use_tqdm=False) if prompts else []
    with open("/proc/self/maps") as f:
        libs = sorted({line.rsplit("/", 1)[-1].strip() for line in f if "/vllm/_C" in line})
    print("RESULT " + json.dumps({
        "platform": type(current_platform).__name__, "libs": libs,
        "tokens": [[list(o.prompt_token_ids), list(o.outputs[0].token_ids)] for o in outs]}))
"""


def llm_in_subprocess(model_path: str, prompts: Sequence[str] = (), *, max_tokens: int = 1, timeout: float = 600,
                      env_changes: dict[str, str | None] | None = None, **llm_kwargs):
    """``LLM(model_path, ...)`` (``LLM_SETTINGS`` + ``llm_kwargs``, JSON values) and greedy
    ``prompts`` in a fresh Python with this environment changed by ``env_changes``.

    Returns ``(process, result)``: ``result`` is ``None`` when the run did not get to the end,
    else ``{"platform": class name of vLLM's platform, "libs": the vllm/_C libraries mapped in
    the process, "tokens": [[prompt_token_ids, token_ids], ...]}``.
    """
    job = [{"model": model_path, **LLM_SETTINGS, **llm_kwargs}, list(prompts), max_tokens]
    proc = run_python(_LLM_CHILD, json.dumps(job), timeout=timeout, **(env_changes or {}))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    return proc, json.loads(lines[-1][len("RESULT "):]) if lines else None
