"""ipex_low_bit through LLM() and vllm serve (host mode) against transformers.

The reference is transformers running the *same dequantized weights* (every linear
projection replaced by dequantize(quantize(w))), in float32. Required: identical greedy
tokens, and perplexity of a fixed text (prompt logprobs) within PPL_RTOL.
"""

from __future__ import annotations

import gc
import json
import math
import subprocess
import sys

import pytest
import torch

from vllm_ipex_plugin.kernels.lowbit.reference import dequantize, quantize
from vllm_ipex_plugin.quantize_checkpoint import is_quantizable
from vllm_ipex_plugin.testing import VllmServer, free_port, hf_greedy, hf_logprobs

PPL_RTOL = 0.01
NEW_TOKENS = 12
PROMPTS = ["The capital of France is", "def add(a, b):", "Once upon a time"]
FIXED_TEXT = (
    "Licensed under the Apache License, Version 2.0 (the License); you may not use this "
    "file except in compliance with the License. You may obtain a copy of the License at "
    "the project's web site. Unless required by applicable law or agreed to in writing, "
    "software distributed under the License is distributed on an AS IS BASIS, WITHOUT "
    "WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the License for "
    "the specific language governing permissions and limitations under the License."
)
FORMATS = ["sym_int4", "asym_int4", "fp6", "fp8", "fp8_e4m3", "fp16", "sym_int8", "nf4", "woq_int4"]


def dequantized_hf_model(model_path: str, fmt: str, skip=lambda name: False):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if is_quantizable(name, param) and not skip(name):
                param.copy_(dequantize(quantize(param, fmt), fmt))
    return model.eval()


def perplexity(token_logprobs: list[float]) -> float:
    return math.exp(-sum(token_logprobs) / len(token_logprobs))


def run_llm(model_path: str, **kwargs):
    from vllm import LLM, SamplingParams

    llm = LLM(model=model_path, dtype="float32", enforce_eager=True, max_model_len=512, seed=0, **kwargs)
    try:
        greedy = SamplingParams(max_tokens=NEW_TOKENS, temperature=0.0, ignore_eos=True)
        outs = llm.generate(PROMPTS, greedy, use_tqdm=False)
        tokens = [(o.prompt_token_ids, list(o.outputs[0].token_ids)) for o in outs]
        ppl_params = SamplingParams(max_tokens=1, prompt_logprobs=0)
        ppl_out = llm.generate([FIXED_TEXT], ppl_params, use_tqdm=False)[0]
        ids = ppl_out.prompt_token_ids
        lps = [ppl_out.prompt_logprobs[i][ids[i]].logprob for i in range(1, len(ids))]
        return tokens, ids, lps
    finally:
        del llm
        gc.collect()


def check_against_hf(hf, tokens, ids, lps) -> tuple[float, float]:
    for prompt_ids, got in tokens:
        assert got == hf_greedy(hf, prompt_ids, NEW_TOKENS)
    ref = hf_logprobs(hf, ids)
    ref_lps = [ref[i - 1, ids[i]].item() for i in range(1, len(ids))]
    ours, theirs = perplexity(lps), perplexity(ref_lps)
    assert abs(ours - theirs) / theirs < PPL_RTOL, (ours, theirs)
    return ours, theirs


@pytest.mark.e2e
@pytest.mark.parametrize("fmt", FORMATS)
def test_format_matches_dequantized_transformers(fmt, demo_model_path):
    tokens, ids, lps = run_llm(
        demo_model_path, quantization="ipex_low_bit", additional_config={"low_bit": fmt}
    )
    ours, theirs = check_against_hf(dequantized_hf_model(demo_model_path, fmt), tokens, ids, lps)
    print(f"\n{fmt}: perplexity vLLM {ours:.3f} transformers {theirs:.3f}")


@pytest.mark.e2e
def test_layer_not_multiple_of_64_stays_16bit(tmp_path, capfd):
    from vllm_ipex_plugin.testing import build_tiny_model

    path = build_tiny_model("llama", tmp_path / "odd", intermediate_size=160)
    tokens, ids, lps = run_llm(str(path), quantization="ipex_low_bit", additional_config={"low_bit": "sym_int4"})
    captured = capfd.readouterr()
    logs = captured.out + captured.err
    warned = [line for line in logs.splitlines() if "not a multiple of 64; it stays in" in line]
    assert len(warned) == 2 and all("mlp.down_proj" in line for line in warned), warned
    hf = dequantized_hf_model(str(path), "sym_int4", skip=lambda name: "down_proj" in name)
    check_against_hf(hf, tokens, ids, lps)


def _llm_subprocess(model: str, extra: str) -> subprocess.CompletedProcess:
    code = (
        "from vllm import LLM\n"
        "if __name__ == '__main__':\n"
        f"    LLM(model={model!r}, dtype='float32', enforce_eager=True, max_model_len=256, {extra})\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)


@pytest.mark.e2e
def test_unknown_format_fails_with_one_line(demo_model_path):
    result = _llm_subprocess(demo_model_path, "quantization='ipex_low_bit', additional_config={'low_bit': 'int3'}")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("vllm_ipex_plugin: Unknown ipex_low_bit format 'int3'. Valid formats: asym_int4")


def test_quantize_cli_rejects_unknown_format(demo_model_path, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "vllm_ipex_plugin.quantize_checkpoint", demo_model_path, "--low-bit", "q3",
         "--output", str(tmp_path / "x")], capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "Unknown ipex_low_bit format 'q3'. Valid formats:" in result.stderr


@pytest.fixture(scope="module")
def prequantized_sym_int4(demo_model_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("preq") / "smollm2-sym_int4"
    subprocess.run(
        [sys.executable, "-m", "vllm_ipex_plugin.quantize_checkpoint", demo_model_path, "--low-bit", "sym_int4",
         "--output", str(out)], check=True, timeout=300,
    )
    return out


@pytest.mark.e2e
def test_prequantized_checkpoint_served_as_is(prequantized_sym_int4, demo_model_path, tmp_path):
    import openai

    config = json.loads((prequantized_sym_int4 / "config.json").read_text())
    assert config["quantization_config"]["quant_method"] == "ipex_low_bit"
    hf = dequantized_hf_model(demo_model_path, "sym_int4")
    args = ["--dtype", "float32", "--enforce-eager", "--max-model-len", "512", "--served-model-name", "q"]
    log = tmp_path / "serve.log"
    with VllmServer(str(prequantized_sym_int4), args, free_port(), str(log)) as server:
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="none")
        for prompt in PROMPTS:
            resp = client.completions.create(model="q", prompt=prompt, max_tokens=NEW_TOKENS, temperature=0,
                                             extra_body={"ignore_eos": True, "return_token_ids": True})
            prompt_ids = resp.choices[0].prompt_token_ids
            assert list(resp.choices[0].token_ids) == hf_greedy(hf, prompt_ids, NEW_TOKENS)
    text = log.read_text()
    assert "ipex_low_bit weights in sym_int4 (pre-quantized checkpoint)" in text


@pytest.mark.e2e
def test_prequantized_declared_format_mismatch(prequantized_sym_int4, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(prequantized_sym_int4, bad)
    config = json.loads((bad / "config.json").read_text())
    config["quantization_config"]["low_bit"] = "fp8_e4m3"
    (bad / "config.json").write_text(json.dumps(config))
    result = _llm_subprocess(str(bad), "")
    assert result.returncode != 0
    output = result.stdout + result.stderr  # vLLM logs the worker's error on stdout
    assert "does not match its tensors" in output
    assert "ipex_low_bit checkpoint: tensor model.layers.0." in output


@pytest.mark.e2e
def test_on_vllm_cpu_platform_without_host_mode(demo_model_path):
    """Plugin installed, host mode off, no Intel GPU: vLLM's own CPU platform runs ipex_low_bit."""
    import os

    code = (
        "import json\n"
        "from vllm import LLM, SamplingParams\n"
        "from vllm.platforms import current_platform\n"
        "if __name__ == '__main__':\n"
        f"    llm = LLM(model={demo_model_path!r}, dtype='float32', enforce_eager=True, max_model_len=256,\n"
        "              quantization='ipex_low_bit', additional_config={'low_bit': 'sym_int4'},\n"
        "              kv_cache_memory_bytes=1 << 30)\n"
        f"    outs = llm.generate({PROMPTS!r}, SamplingParams(max_tokens={NEW_TOKENS}, temperature=0,\n"
        "                        ignore_eos=True), use_tqdm=False)\n"
        "    print('RESULT', json.dumps([type(current_platform).__name__,\n"
        "          [[o.prompt_token_ids, list(o.outputs[0].token_ids)] for o in outs]]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("IPEX_PLUGIN_HOST_MODE", "IPEX_PLUGIN_DEVICE")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900, env=env)
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("RESULT ")]
    assert line, result.stdout[-3000:] + result.stderr[-3000:]
    platform, tokens = json.loads(line[0][len("RESULT "):])
    assert platform == "CpuPlatform"
    hf = dequantized_hf_model(demo_model_path, "sym_int4")
    for prompt_ids, got in tokens:
        assert got == hf_greedy(hf, prompt_ids, NEW_TOKENS)
