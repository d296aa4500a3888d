"""The examples under examples/ run as shipped, in host mode on the demo model (small sizes)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.harness.runners import IN_PROCESS_SWITCH, run_python
from vllm_ipex_plugin import envs

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run_example(name: str, *args: str, timeout: float = 900, own_engine_process: bool = False):
    """``python examples/NAME args...`` in host mode. Unless ``own_engine_process``, with vLLM's engine
    core in the example's process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``, as ``tests/harness/runners.py``
    explains): the offline-inference example keeps vLLM's default."""
    code = f"import runpy, sys; sys.argv = [{name!r}, *sys.argv[1:]]; runpy.run_path({str(EXAMPLES / name)!r}, " \
           "run_name='__main__')"
    engine_process = {IN_PROCESS_SWITCH: None if own_engine_process else "0"}
    return run_python(code, *args, timeout=timeout, **{envs.HOST_MODE: "1"}, **engine_process)


@pytest.mark.e2e
def test_prefix_caching_example_gives_the_same_answers_with_and_without_caching(demo_model_path):
    proc = _run_example("prefix_caching.py", demo_model_path, "--rows", "20", "--max-tokens", "8")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "same answers: True" in proc.stdout
    assert re.search(r"second question: [\d.]+ s without prefix caching, [\d.]+ s with it: [\d.]+x faster",
                     proc.stdout), proc.stdout


@pytest.mark.e2e
def test_offline_inference_example_with_sym_int4(demo_model_path):
    proc = _run_example("vllm_offline_inference.py", demo_model_path, "sym_int4", own_engine_process=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    generated = re.findall(r"^Prompt: '(.+?)', Generated text: (['\"])(.*)\2$", proc.stdout, re.M)
    assert [p for p, _, _ in generated] == ["Hello, my name is", "The president of the United States is",
                                         "The capital of France is", "The future of AI is"], proc.stdout
    assert all(text.strip() for _, _, text in generated), generated


@pytest.mark.e2e
def test_throughput_benchmark_wrapper_takes_ipex_llm_low_bit_flag(demo_model_path):
    proc = _run_example("benchmark_vllm_throughput.py", "--model", demo_model_path, "--load-in-low-bit", "sym_int4",
                        "--input-len", "32", "--output-len", "8", "--num-prompts", "4", "--dtype", "float32",
                        "--max-model-len", "256", "--enforce-eager")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    output = proc.stdout + proc.stderr
    assert "ipex_low_bit weights in sym_int4" in output, output[-3000:]
    assert re.search(r"Throughput: [\d.]+ requests/s, [\d.]+ total tokens/s, [\d.]+ output tokens/s", output), \
        output[-2000:]
    # IPEX-LLM's --input-len / --output-len reached vLLM's random dataset: 4 prompts x 32, 4 x 8
    assert re.search(r"Total num prompt tokens:\s+128\b", output), output[-2000:]
    assert re.search(r"Total num output tokens:\s+32\b", output), output[-2000:]


@pytest.mark.e2e
def test_image_chat_example_with_a_sym_int4_language_model(tmp_path):
    from PIL import Image

    from tests.harness.vlm_models import build_tiny_vlm

    image = tmp_path / "picture.png"
    Image.new("RGB", (72, 48), (200, 30, 90)).save(image)
    proc = _run_example("image_chat.py", str(build_tiny_vlm("qwen2_vl")), str(image), "--low-bit", "sym_int4",
                        "--max-tokens", "6", "--max-model-len", "512")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "Question: 'What is in this picture?'" in proc.stdout
    assert re.search(r"^Answer: .* \([1-6] tokens?\)$", proc.stdout, re.M), proc.stdout


@pytest.mark.e2e
def test_lora_example_answers_per_adapter_and_base(tiny_llama_path, tmp_path):
    from tests.harness.adapters import make_lora_adapter

    a = make_lora_adapter(tiny_llama_path, str(tmp_path / "a"), 1)
    b = make_lora_adapter(tiny_llama_path, str(tmp_path / "b"), 2)
    proc = _run_example("lora_offline.py", tiny_llama_path, "--lora", f"a={a}", "--lora", f"b={b}", "--low-bit",
                        "sym_int4", "--prompt", "Once upon a time there", "--max-tokens", "8", "--max-model-len", "256")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    answers = dict(re.findall(r"^\[(\w+)\] 'Once upon a time there' -> (.*)$", proc.stdout, re.M))
    assert set(answers) == {"base", "a", "b"}, proc.stdout
    assert len(set(answers.values())) == 3, answers  # each adapter changes the answer


def test_lora_example_rejects_a_folder_without_an_adapter(tmp_path):
    proc = _run_example("lora_offline.py", "model", "--lora", f"a={tmp_path}")
    assert proc.returncode == 2
    assert f"--lora 'a={tmp_path}': expected NAME=DIR with DIR/adapter_config.json" in proc.stderr


@pytest.mark.e2e
def test_awq_example_matches_transformers_on_the_encoded_weights(tiny_llama_path, tmp_path):
    from transformers import AutoTokenizer

    from tests.harness.public_checkpoints import VARIANTS, write_public_checkpoint
    from tests.harness.reference import hf_greedy, hf_model

    ref = write_public_checkpoint(Path(tiny_llama_path), tmp_path / "awq", **VARIANTS["awq-g128"])
    prompt = "Once upon a time there was"
    proc = _run_example("awq_gptq_offline.py", str(tmp_path / "awq"), "--prompt", prompt, "--max-tokens", "8",
                        "--max-model-len", "256", "--dtype", "float32")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "checkpoint: awq 4-bit, group 128" in proc.stdout, proc.stdout
    tok = AutoTokenizer.from_pretrained(tiny_llama_path)
    ids = tok(prompt).input_ids
    expected = tok.decode(hf_greedy(hf_model(tiny_llama_path, lambda name, _: ref.get(name)), ids, 8),
                          skip_special_tokens=True)
    assert f"Prompt: {prompt!r}, Generated text: {expected!r}" in proc.stdout, (expected, proc.stdout)


@pytest.mark.e2e
def test_openai_chat_example_serves_and_answers():
    """``examples/serve_and_chat.py`` (the README's main job): a server on the demo model, one chat
    question through the ``openai`` client, the answer printed, the server stopped."""
    proc = _run_example("serve_and_chat.py", "Name one colour.", own_engine_process=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    answer = re.search(r"^Q: Name one colour\.\nA: (.+)$", proc.stdout, re.M)
    assert answer and answer.group(1).strip(), proc.stdout


@pytest.mark.e2e
def test_wrk_payload_script_gets_a_well_formed_answer(demo_model_path, tmp_path, monkeypatch):
    """``examples/payload-1024.lua`` as wrk runs it: its request (run by a Lua interpreter with
    wrk's ``wrk`` table) goes to a server with an API key, and its ``response`` callback counts the
    answer well formed (200, 128 completion tokens) for a prompt of about 1024 tokens."""
    import json
    import urllib.request

    from lupa import LuaRuntime

    from tests.harness.server import VllmServer, free_port

    key = "payload-key"
    monkeypatch.setenv("MODEL", "smollm2")
    monkeypatch.setenv("API_KEY", key)
    lua = LuaRuntime()
    lua.execute("wrk = {headers = {}}")
    lua.execute((EXAMPLES / "payload-1024.lua").read_text())
    wrk = lua.globals().wrk
    args = ["--api-key", key, "--max-model-len", "2048", "--enforce-eager", "--served-model-name", "smollm2"]
    with VllmServer(demo_model_path, args, free_port(), str(tmp_path / "server.log")) as srv:
        request = urllib.request.Request(srv.base_url + "/v1/completions", data=wrk.body.encode(), method=wrk.method,
                                         headers=dict(wrk.headers.items()))
        with urllib.request.urlopen(request, timeout=600) as reply:
            status, body = reply.status, reply.read().decode()
    script = lua.globals()
    script.init(None)
    script.response(status, None, body)
    assert (script.well_formed, script.other) == (1, 0), body[:300]
    assert 900 <= json.loads(body)["usage"]["prompt_tokens"] <= 1100
