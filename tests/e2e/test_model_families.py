"""Model families of IPEX-LLM's validated list beyond Llama and Qwen2 (those two: the other e2e
tests), on tiny random models built by the tests (``tests/harness/models.py``).

- GLM-4 / CodeGeeX4 in transformers' layout (``Glm4ForCausalLM``: partial rotary, extra
  post-norms): greedy tokens equal transformers' in float32, unquantized, sym_int4 and fp8 (on
  the dequantized weights).
- ChatGLM3 (``ChatGLMModel``, also the layout of GLM-4 / CodeGeeX4's original checkpoints):
  transformers has no implementation without remote code, so the reference is vLLM's own CPU
  platform on the same weights (the plugin's host mode off): greedy tokens equal, unquantized and
  with sym_int4 / fp8 quantized on load (the reference then on a checkpoint of the dequantized
  weights).
- TeleChat2 (``TeleChat2ForCausalLM``): the checkpoint carries its own config module (remote
  code, ``tests/harness/remote_code/``; loaded with ``trust_remote_code=True`` from the folder
  only); the reference is vLLM's own CPU platform, as for ChatGLM3 (low-bit formats included).
- Baichuan2 (``BaichuanForCausalLM``): vLLM dropped it after v0.23.0, so vLLM 0.32 refuses the
  checkpoint on either platform; pinned here so a vLLM that runs it again fails the test.
"""

from __future__ import annotations

import pytest

from tests.harness.models import build_tiny_baichuan2, build_tiny_chatglm, build_tiny_model, build_tiny_telechat2
from tests.harness.reference import assert_greedy_matches, dequantized_checkpoint, dequantized_hf_model, hf_model
from tests.harness.runners import IN_PROCESS_SWITCH, llm_greedy, llm_in_subprocess

PROMPTS = ["Hello, my name is", "The capital of France is", "def fibonacci(n):"]
MAX_TOKENS = 8


@pytest.mark.e2e
@pytest.mark.parametrize("fmt", [None, "sym_int4", "fp8"])
def test_glm4_matches_transformers(fmt):
    path = str(build_tiny_model("glm4"))
    quant = {"quantization": "ipex_low_bit", "additional_config": {"low_bit": fmt}} if fmt else {}
    results = llm_greedy(path, PROMPTS, max_tokens=MAX_TOKENS, **quant)
    assert_greedy_matches(dequantized_hf_model(path, fmt) if fmt else hf_model(path), results, MAX_TOKENS)


def _greedy(model: str, host_mode: str, **llm_kwargs) -> tuple[str, list]:
    """(vLLM's platform class name, greedy tokens of ``PROMPTS``) of ``model`` in a fresh process,
    the plugin's host mode on (``"1"``: ``XpuHostPlatform``) or off (``"0"``: stock ``CpuPlatform``)."""
    proc, result = llm_in_subprocess(model, PROMPTS, max_tokens=MAX_TOKENS, gpu_memory_utilization=0.3,
                                     env_changes={"IPEX_PLUGIN_HOST_MODE": host_mode, IN_PROCESS_SWITCH: "0"},
                                     **llm_kwargs)
    assert result is not None, proc.stderr[-3000:]
    return result["platform"], result["tokens"]


def assert_matches_vllm_cpu_platform(path: str, **llm_kwargs) -> None:
    """Greedy tokens of the plugin (host mode: ``XpuHostPlatform``) equal stock vLLM's on its own
    ``CpuPlatform`` (host mode off), each in a fresh process, and are not one degenerate answer."""
    plugin, stock = _greedy(path, "1", **llm_kwargs), _greedy(path, "0", **llm_kwargs)
    assert (plugin[0], stock[0]) == ("XpuHostPlatform", "CpuPlatform")
    assert plugin[1] == stock[1]
    assert len({tuple(tokens) for _, tokens in stock[1]}) == len(PROMPTS)  # not one degenerate answer


@pytest.mark.e2e
def test_chatglm3_matches_vllm_cpu_platform():
    assert_matches_vllm_cpu_platform(str(build_tiny_chatglm()))


@pytest.mark.e2e
@pytest.mark.parametrize("family", ["chatglm3", "telechat2"])
@pytest.mark.parametrize("fmt", ["sym_int4", "fp8"])
def test_low_bit_matches_vllm_cpu_platform_on_the_dequantized_weights(family, fmt, tmp_path):
    """The plugin quantizing the model on load (host mode) against stock vLLM's CPU platform on a
    checkpoint holding the weights that quantization gives (``dequantized_checkpoint``)."""
    build, extra, also = {"chatglm3": (build_tiny_chatglm, {}, ()),
                          "telechat2": (build_tiny_telechat2, {"trust_remote_code": True},
                                        ("query.weight", "key_value.weight"))}[family]
    path = str(build())
    reference = str(dequantized_checkpoint(path, tmp_path / "dequantized", fmt, also))
    quant = {"quantization": "ipex_low_bit", "additional_config": {"low_bit": fmt}}
    plugin, stock = _greedy(path, "1", **quant, **extra), _greedy(reference, "0", **extra)
    assert (plugin[0], stock[0]) == ("XpuHostPlatform", "CpuPlatform")
    assert plugin[1] == stock[1]
    assert _greedy(path, "0", **extra)[1] != stock[1]  # the quantization changes these weights' answers


@pytest.mark.e2e
def test_telechat2_matches_vllm_cpu_platform():
    assert_matches_vllm_cpu_platform(str(build_tiny_telechat2()), trust_remote_code=True)


@pytest.mark.e2e
def test_baichuan2_refused_with_vllms_message():
    """vLLM 0.32 has no ``BaichuanForCausalLM`` (removed after v0.23.0; stock vLLM's CPU platform
    refuses the same checkpoint with the same message). Under the plugin the refusal is vLLM's
    own, when the model's config is resolved, before any engine starts."""
    from vllm.engine.arg_utils import EngineArgs
    from vllm.platforms import current_platform

    assert type(current_platform).__name__ == "XpuHostPlatform"
    args = EngineArgs(model=str(build_tiny_baichuan2()), trust_remote_code=True, dtype="float32")
    with pytest.raises(Exception, match="BaichuanForCausalLM was supported in vLLM until v0.23.0"):
        args.create_model_config()
