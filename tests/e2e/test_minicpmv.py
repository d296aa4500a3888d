"""MiniCPM-V (vLLM's ``MiniCPMV`` architecture) with image input on the plugin's platform, on tiny
random checkpoints built by the tests (``tests/harness/minicpmv_model.py``; their config class and
image processor are remote code the folder carries, loaded with ``trust_remote_code=True``).

transformers has no MiniCPM-V implementation, so the reference is vLLM's own CPU platform on the
same checkpoint: the plugin (host mode, ``XpuHostPlatform``) and stock vLLM (host mode off,
``CpuPlatform``), each in a fresh process, float32, greedy, the same images (drawn from seeded
NumPy arrays in the child, of two sizes: a 2x1 and a 1x2 slice grid).

- MiniCPM-V 4.5 (Qwen3 language model, SigLIP / Idefics2 tower ``vpm``, ``Resampler4_5``): equal
  tokens, unquantized and with a sym_int4 language model (the tower and resampler in 16 bits:
  the reference is stock vLLM on a checkpoint with exactly the language model's linears
  dequantized).
- MiniCPM-V 2.6 (Qwen2 language model, ``Resampler2_5``): vLLM 0.32 cannot run an image on a CPU
  build of torch, on either platform: ``Resampler2_5.forward`` calls
  ``torch.cuda.is_current_stream_capturing()`` (added for the encoder's CUDA graphs), which torch
  +cpu answers with ``RuntimeError: Tried to instantiate dummy base class
  _cuda_isCurrentStreamCapturing``. 2.5 and 4.0 share that resampler. Pinned here (text prompts
  on the same checkpoint run and agree), so a vLLM that fixes it fails the test. On an Intel GPU
  the plugin points that name at ``torch.xpu`` (``compat/torch_cuda_alias.py``); not run here.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from tests.harness.minicpmv_model import IMAGE_PATTERN, build_tiny_minicpmv
from tests.harness.runners import IN_PROCESS_SWITCH, LLM_SETTINGS, run_python

MAX_TOKENS = 8
QUESTION = "Describe the picture."
# (height, width, seed) of each image: A, A' (A's size, other pixels: the same prompt tokens), B
IMAGES = {"A": (64, 80, 0), "A2": (64, 80, 1), "B": (90, 60, 2)}
CUDA_STUB_ERROR = "Tried to instantiate dummy base class _cuda_isCurrentStreamCapturing"

_CHILD = """
import json, sys
import numpy as np
from PIL import Image
from vllm import LLM, SamplingParams
from vllm.platforms import current_platform

if __name__ == "__main__":  # vLLM's spawned processes must not run this again
    settings, rounds, max_tokens = json.loads(sys.argv[1])
    llm = LLM(**settings)
    params = SamplingParams(max_tokens=max_tokens, temperature=0.0, ignore_eos=True)
    results = []
    for requests in rounds:
        batch = []
        for prompt, image in requests:
            if image is None:
                batch.append(prompt)
            else:
                h, w, seed = image
                pixels = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
                batch.append({"prompt": prompt, "multi_modal_data": {"image": Image.fromarray(pixels)}})
        try:
            outs = llm.generate(batch, params, use_tqdm=False)
            results.append([[list(o.prompt_token_ids), list(o.outputs[0].token_ids)] for o in outs])
        except Exception as e:  # reported to the test, which asserts what it is
            results.append(f"{type(e).__name__}: {e}")
    print("RESULT " + json.dumps({"platform": type(current_platform).__name__, "rounds": results}))
"""


def _prompt(with_image: bool) -> str:
    image = f"{IMAGE_PATTERN}\n" if with_image else ""
    return f"<|im_start|>user\n{image}{QUESTION}<|im_end|>\n<|im_start|>assistant\n"


def _requests(*images: str) -> list:
    return [[_prompt(True), list(IMAGES[name])] for name in images]


@functools.cache
def _run(model: str, host_mode: str, rounds_json: str, llm_json: str = "{}") -> tuple[str, list]:
    """(vLLM's platform class name, per round: ``[[prompt_token_ids, token_ids], ...]`` or the
    error ``generate`` raised) of ``model`` in a fresh process, host mode on (``"1"``) or off
    (``"0"``); cached, so a run two tests need is made once."""
    settings = {"model": model, **LLM_SETTINGS, "trust_remote_code": True, "limit_mm_per_prompt": {"image": 1},
                "gpu_memory_utilization": 0.3, **json.loads(llm_json)}
    job = [settings, json.loads(rounds_json), MAX_TOKENS]
    proc = run_python(_CHILD, json.dumps(job), timeout=600, IPEX_PLUGIN_HOST_MODE=host_mode,
                      **{IN_PROCESS_SWITCH: "0"})
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    return result["platform"], result["rounds"]


def _greedy(model: str, host_mode: str, rounds: list, **llm_kwargs) -> tuple[str, list]:
    return _run(model, host_mode, json.dumps(rounds), json.dumps(llm_kwargs, sort_keys=True))


def _batch() -> list:
    """One round: images A, A', B, then the text-only prompt."""
    return [[*_requests("A", "A2", "B"), [_prompt(False), None]]]


def _assert_not_degenerate(tokens: list) -> None:
    (a_ids, a), (a2_ids, a2), (b_ids, b), (_, text) = tokens
    assert a_ids == a2_ids != b_ids  # A and A' have one size: the same placeholder tokens
    assert a != a2  # so their answers differ by the pixels alone
    assert len({tuple(a), tuple(a2), tuple(b), tuple(text)}) == 4


@pytest.mark.e2e
def test_minicpmv_4_5_images_match_vllm_cpu_platform():
    path = str(build_tiny_minicpmv("4.5"))
    plugin, stock = _greedy(path, "1", _batch()), _greedy(path, "0", _batch())
    assert (plugin[0], stock[0]) == ("XpuHostPlatform", "CpuPlatform")
    assert isinstance(stock[1][0], list), stock[1][0]
    assert plugin[1] == stock[1]
    _assert_not_degenerate(stock[1][0])


def _dequantized_language_model(src: str, dst: Path, fmt: str) -> tuple[Path, dict[str, int]]:
    """A copy of checkpoint ``src`` whose language-model linears hold
    ``dequantize(quantize(w, fmt))`` (the weights the plugin runs with ``low_bit=fmt``) and whose
    vision tower and resampler are left as they are (the plugin keeps them in 16 bits)."""
    import shutil

    from safetensors.torch import load_file, save_file

    from vllm_ipex_plugin.kernels.lowbit.reference import dequantize, quantize
    from vllm_ipex_plugin.quantization.vision_modules import is_vision_module
    from vllm_ipex_plugin.quantize_checkpoint import is_quantizable

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.safetensors"))
    counts = {"language": 0, "vision kept": 0}
    for shard in sorted(Path(src).glob("*.safetensors")):
        tensors = load_file(str(shard))
        for name, tensor in tensors.items():
            if tensor.dim() == 2 and is_vision_module(name):
                counts["vision kept"] += 1
            elif is_quantizable(name, tensor):
                tensors[name] = dequantize(quantize(tensor, fmt), fmt).to(tensor.dtype).contiguous()
                counts["language"] += 1
        save_file(tensors, str(dst / shard.name), metadata={"format": "pt"})
    return dst, counts


@pytest.mark.e2e
def test_minicpmv_4_5_sym_int4_language_model_with_a_16_bit_vision_tower(tmp_path):
    """The plugin quantizing the language model on load (host mode) against stock vLLM's CPU
    platform on a checkpoint with exactly those weights dequantized, the vision tower and the
    resampler unchanged: had the plugin quantized ``vpm`` or ``resampler`` the images would
    answer otherwise."""
    path = str(build_tiny_minicpmv("4.5"))
    reference, counts = _dequantized_language_model(path, tmp_path / "dequantized", "sym_int4")
    assert counts["language"] == 2 * 7 and counts["vision kept"] >= 8, counts  # layers x linears
    plugin = _greedy(path, "1", _batch(), quantization="ipex_low_bit", additional_config={"low_bit": "sym_int4"})
    stock = _greedy(str(reference), "0", _batch())
    assert (plugin[0], stock[0]) == ("XpuHostPlatform", "CpuPlatform")
    assert isinstance(stock[1][0], list), stock[1][0]
    assert plugin[1] == stock[1]
    _assert_not_degenerate(stock[1][0])
    assert _greedy(path, "0", _batch())[1] != stock[1]  # the quantization changes these weights' answers


@pytest.mark.e2e
def test_minicpmv_2_6_image_fails_alike_on_both_platforms():
    """vLLM 0.32's MiniCPM-V 2.6 loads the checkpoint (every weight: vLLM refuses a checkpoint
    that leaves one uninitialised) and answers text prompts alike on both platforms, but its
    first image stops in ``Resampler2_5.forward`` on torch +cpu, on vLLM's own CPU platform as
    on the plugin's."""
    path = str(build_tiny_minicpmv("2.6"))
    rounds = [[[_prompt(False), None], ["<|im_start|>user\nHello<|im_end|>\n", None]], _requests("A")]
    plugin, stock = _greedy(path, "1", rounds), _greedy(path, "0", rounds)
    assert (plugin[0], stock[0]) == ("XpuHostPlatform", "CpuPlatform")
    (plugin_text, plugin_image), (stock_text, stock_image) = plugin[1], stock[1]
    assert isinstance(stock_text, list) and plugin_text == stock_text
    assert stock_text[0][1] != stock_text[1][1]
    for error in (plugin_image, stock_image):
        assert isinstance(error, str) and CUDA_STUB_ERROR in error, error
