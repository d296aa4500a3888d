"""ipex_low_bit through LLM() and vllm serve (host mode) against transformers.

The reference is transformers running the *same dequantized weights* (every linear
projection replaced by dequantize(quantize(w))), in float32. Required: identical greedy
tokens, and perplexity of a fixed text (prompt logprobs) within PPL_RTOL
(``tests/harness/greedy_ppl.py``).
"""

from __future__ import annotations

import json
import logging

import pytest

from tests.harness.greedy_ppl import NEW_TOKENS, PROMPTS, check_against_hf, run_llm
from tests.harness.models import build_tiny_model
from tests.harness.reference import assert_greedy_matches, dequantized_hf_model, hf_greedy
from tests.harness.runners import IN_PROCESS_SWITCH, llm_in_subprocess, run_python_module
from tests.harness.server import VllmServer, free_port

FORMATS = ["sym_int4", "asym_int4", "fp6", "fp8", "fp8_e4m3", "fp16", "sym_int8", "nf4", "woq_int4"]


@pytest.mark.e2e
@pytest.mark.parametrize("fmt", FORMATS)
def test_format_matches_dequantized_transformers(fmt, demo_model_path):
    tokens, ids, lps = run_llm(
        demo_model_path, quantization="ipex_low_bit", additional_config={"low_bit": fmt}
    )
    ours, theirs = check_against_hf(dequantized_hf_model(demo_model_path, fmt), tokens, ids, lps)
    print(f"\n{fmt}: perplexity vLLM {ours:.3f} transformers {theirs:.3f}")


@pytest.mark.e2e
def test_layer_not_multiple_of_64_stays_16bit(tmp_path):
    path = build_tiny_model("llama", tmp_path / "odd", intermediate_size=160)
    # The engine runs in this process (tests/harness/runners.py): the quant method's records are read at
    # its logger, through a filter (vLLM reconfigures logging during start-up, which drops the handlers of
    # its child loggers but keeps their filters).
    records: list[logging.LogRecord] = []

    def keep(record: logging.LogRecord) -> bool:
        records.append(record)
        return True

    method_logger = logging.getLogger("vllm.vllm_ipex_plugin.quantization.ipex_low_bit")
    method_logger.addFilter(keep)
    try:
        tokens, ids, lps = run_llm(str(path), quantization="ipex_low_bit", additional_config={"low_bit": "sym_int4"})
    finally:
        method_logger.removeFilter(keep)
    warned = [msg for msg in (r.getMessage() for r in records) if "not a multiple of 64; it stays in" in msg]
    assert len(warned) == 2 and all("mlp.down_proj" in line for line in warned), warned
    hf = dequantized_hf_model(str(path), "sym_int4", skip=lambda name: "down_proj" in name)
    check_against_hf(hf, tokens, ids, lps)


@pytest.mark.e2e
def test_unknown_format_fails_with_one_line(demo_model_path):
    result, _ = llm_in_subprocess(demo_model_path, max_model_len=256, quantization="ipex_low_bit",
                                  additional_config={"low_bit": "int3"})
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("vllm_ipex_plugin: Unknown ipex_low_bit format 'int3'. Valid formats: asym_int4")


def test_quantize_cli_rejects_unknown_format(demo_model_path, tmp_path):
    result = run_python_module("vllm_ipex_plugin.quantize_checkpoint", demo_model_path, "--low-bit", "q3",
                               "--output", str(tmp_path / "x"), timeout=120)
    assert result.returncode == 2
    assert "Unknown ipex_low_bit format 'q3'. Valid formats:" in result.stderr


@pytest.fixture(scope="module")
def prequantized_sym_int4(demo_model_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("preq") / "smollm2-sym_int4"
    result = run_python_module("vllm_ipex_plugin.quantize_checkpoint", demo_model_path, "--low-bit", "sym_int4",
                               "--output", str(out), timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
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
    result, _ = llm_in_subprocess(str(bad), max_model_len=256)
    assert result.returncode != 0
    output = result.stdout + result.stderr  # vLLM logs the worker's error on stdout
    assert "does not match its tensors" in output
    assert "ipex_low_bit checkpoint: tensor model.layers.0." in output


@pytest.mark.e2e
def test_on_vllm_cpu_platform_without_host_mode(demo_model_path):
    """Plugin installed, host mode off, no Intel GPU: vLLM's own CPU platform runs ipex_low_bit."""
    result, run = llm_in_subprocess(
        demo_model_path, PROMPTS, max_tokens=NEW_TOKENS, timeout=900, max_model_len=256,
        quantization="ipex_low_bit", additional_config={"low_bit": "sym_int4"}, kv_cache_memory_bytes=1 << 30,
        env_changes={"IPEX_PLUGIN_HOST_MODE": None, "IPEX_PLUGIN_DEVICE": None, IN_PROCESS_SWITCH: "0"},
    )
    assert run, result.stdout[-3000:] + result.stderr[-3000:]
    assert run["platform"] == "CpuPlatform"
    assert_greedy_matches(dequantized_hf_model(demo_model_path, "sym_int4"), run["tokens"], NEW_TOKENS)
