"""Multi-LoRA on the plugin's platform (host mode): adapters made here with peft, served in one
batch beside the base model, greedy tokens equal transformers + peft (adapter merged) on the
same weights; with a 16-bit base and with an ``ipex_low_bit`` sym_int4 base (reference: the
dequantized base with the adapter merged)."""

from __future__ import annotations

import pytest
import torch

from tests.harness.reference import dequantized_hf_model, hf_greedy, hf_model
from tests.harness.runners import greedy_params, with_llm

PROMPTS = ["The quick brown fox", "Once upon a time there", "1 2 3 4"]
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
MAX_TOKENS = 12


def _make_adapter(model_path: str, folder: str, seed: int) -> str:
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    model = get_peft_model(hf_model(model_path),
                           LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS, init_lora_weights=False))
    with torch.no_grad():  # large enough to change greedy tokens, so a dropped adapter fails
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.mul_(4.0)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def adapters(tiny_llama_path, tmp_path_factory):
    root = tmp_path_factory.mktemp("lora")
    return {name: _make_adapter(tiny_llama_path, str(root / name), seed) for name, seed in (("a", 1), ("b", 2))}


def _reference(base, adapter: str | None, prompt_ids: list[int]) -> list[int]:
    import copy

    from peft import PeftModel

    model = base if adapter is None else PeftModel.from_pretrained(copy.deepcopy(base), adapter).merge_and_unload()
    return hf_greedy(model, prompt_ids, MAX_TOKENS)


def _serve_mixed_batch(model_path: str, adapters: dict[str, str], **llm_kwargs):
    """Every prompt once per adapter and once on the base model, all in one generate call."""
    from vllm.lora.request import LoRARequest

    requests = [None, LoRARequest("a", 1, adapters["a"]), LoRARequest("b", 2, adapters["b"])]

    def use(llm):
        prompts = [p for _ in requests for p in PROMPTS]
        loras = [r for r in requests for _ in PROMPTS]
        outs = llm.generate(prompts, greedy_params(MAX_TOKENS), lora_request=loras, use_tqdm=False)
        return [(lora.lora_path if lora else None, list(o.prompt_token_ids), list(o.outputs[0].token_ids))
                for lora, o in zip(loras, outs, strict=True)]

    return with_llm(model_path, use, enable_lora=True, max_lora_rank=8, max_loras=2, **llm_kwargs)


def _check(base, results) -> None:
    for adapter, prompt_ids, tokens in results:
        assert tokens == _reference(base, adapter, prompt_ids), adapter
    by_adapter = {adapter: [t for a, _, t in results if a == adapter] for adapter, _, _ in results}
    assert len({tuple(map(tuple, v)) for v in by_adapter.values()}) == 3, "an adapter did not change the output"


@pytest.mark.e2e
def test_multi_lora_matches_transformers_and_peft(tiny_llama_path, adapters):
    _check(hf_model(tiny_llama_path), _serve_mixed_batch(tiny_llama_path, adapters))


@pytest.mark.e2e
def test_multi_lora_on_a_sym_int4_base(tiny_llama_path, adapters):
    results = _serve_mixed_batch(tiny_llama_path, adapters, quantization="ipex_low_bit",
                                 additional_config={"low_bit": "sym_int4"})
    _check(dequantized_hf_model(tiny_llama_path, "sym_int4"), results)


@pytest.mark.e2e
def test_multi_lora_at_tp2(tiny_llama_path, adapters):
    _check(hf_model(tiny_llama_path), _serve_mixed_batch(tiny_llama_path, adapters, tensor_parallel_size=2))


@pytest.mark.e2e
def test_lora_modules_through_the_server(tiny_llama_path, adapters, tmp_path):
    """``--enable-lora --lora-modules a=DIR b=DIR``: each adapter is a model name of the API."""
    import openai
    from transformers import AutoTokenizer

    from tests.harness.server import VllmServer, free_port

    args = ["--dtype", "float32", "--enforce-eager", "--max-model-len", "256", "--enable-lora", "--max-lora-rank", "8",
            "--lora-modules", f"a={adapters['a']}", f"b={adapters['b']}"]
    base = hf_model(tiny_llama_path)
    prompt_ids = AutoTokenizer.from_pretrained(tiny_llama_path)(PROMPTS[0]).input_ids
    with VllmServer(tiny_llama_path, args, free_port(), str(tmp_path / "serve.log")) as server:
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="none", max_retries=0)
        assert {m.id for m in client.models.list().data} >= {"a", "b"}
        for name in ("a", "b"):
            reply = client.completions.create(model=name, prompt=prompt_ids, max_tokens=MAX_TOKENS, temperature=0,
                                              extra_body={"ignore_eos": True, "return_token_ids": True})
            assert reply.choices[0].token_ids == _reference(base, adapters[name], prompt_ids), name
