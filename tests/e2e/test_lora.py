"""Multi-LoRA on the plugin's platform (host mode): adapters made here with peft, served in one
batch beside the base model, greedy tokens equal transformers + peft (adapter merged) on the
same weights; with a 16-bit base and with ``ipex_low_bit`` sym_int4 and fp8 (e5m2) bases
(reference: the dequantized base with the adapter merged)."""

from __future__ import annotations

import pytest

from tests.harness.adapters import make_lora_adapter
from tests.harness.reference import dequantized_hf_model, hf_greedy, hf_model
from tests.harness.runners import greedy_params, with_llm

PROMPTS = ["The quick brown fox", "Once upon a time there", "1 2 3 4"]
MAX_TOKENS = 12


@pytest.fixture(scope="module")
def adapters(tiny_llama_path, tmp_path_factory):
    root = tmp_path_factory.mktemp("lora")
    return {name: make_lora_adapter(tiny_llama_path, str(root / name), seed) for name, seed in (("a", 1), ("b", 2))}


def _reference(base, adapter: str | None, prompt_ids: list[int]) -> list[int]:
    import copy

    from peft import PeftModel

    model = base if adapter is None else PeftModel.from_pretrained(copy.deepcopy(base), adapter).merge_and_unload()
    return hf_greedy(model, prompt_ids, MAX_TOKENS)


def _serve_mixed_batch(model_path: str, adapters: dict[str, str], rounds: tuple[list[str], ...] = (PROMPTS,),
                       **llm_kwargs):
    """Every prompt of a round once per adapter and once on the base model, all in one generate
    call; the rounds one after the other on one engine. ``[(adapter, prompt ids, tokens,
    prompt tokens served from the prefix cache), ...]``."""
    from vllm.lora.request import LoRARequest

    requests = [None, LoRARequest("a", 1, adapters["a"]), LoRARequest("b", 2, adapters["b"])]

    def use(llm):
        results = []
        for prompts_round in rounds:
            prompts = [p for _ in requests for p in prompts_round]
            loras = [r for r in requests for _ in prompts_round]
            outs = llm.generate(prompts, greedy_params(MAX_TOKENS), lora_request=loras, use_tqdm=False)
            results += [(lora.lora_path if lora else None, list(o.prompt_token_ids), list(o.outputs[0].token_ids),
                         o.num_cached_tokens or 0) for lora, o in zip(loras, outs, strict=True)]
        return results

    return with_llm(model_path, use, enable_lora=True, max_lora_rank=8, max_loras=2, **llm_kwargs)


def _check(base, results) -> None:
    for adapter, prompt_ids, tokens, _ in results:
        assert tokens == _reference(base, adapter, prompt_ids), adapter
    by_adapter = {adapter: [t for a, _, t, _ in results if a == adapter] for adapter, *_ in results}
    assert len({tuple(map(tuple, v)) for v in by_adapter.values()}) == 3, "an adapter did not change the output"


@pytest.mark.e2e
def test_multi_lora_matches_transformers_and_peft(tiny_llama_path, adapters):
    _check(hf_model(tiny_llama_path), _serve_mixed_batch(tiny_llama_path, adapters))


SHARED_PREFIX = ("A long report on the weather of the northern coast, written for sailors who leave the "
                 "harbour before dawn and need to know the wind, the waves and the fog for the day ahead. ")
MAX_BATCHED = 16  # tokens per step: the long prompts are prefilled in chunks


@pytest.mark.e2e
def test_multi_lora_on_a_sym_int4_base_with_chunked_prefill_and_prefix_caching(tiny_llama_path, adapters):
    """Features together, as a server runs them: a sym_int4 base, two adapters and plain requests in
    one batch, prompts longer than a step's token budget (chunked prefill), and a second round whose
    prompts reuse the first round's prefix per adapter (prefix caching)."""
    rounds = ([SHARED_PREFIX + "Today", "1 2 3 4"], [SHARED_PREFIX + "Tomorrow"])
    results = _serve_mixed_batch(tiny_llama_path, adapters, rounds, quantization="ipex_low_bit",
                                 additional_config={"low_bit": "sym_int4"}, enable_chunked_prefill=True,
                                 max_num_batched_tokens=MAX_BATCHED, max_num_seqs=8, enable_prefix_caching=True,
                                 block_size=8)
    _check(dequantized_hf_model(tiny_llama_path, "sym_int4"), results)
    assert all(len(ids) > MAX_BATCHED for _, ids, _, _ in results[-3:]), "no chunked prompt"
    second_round = results[-3:]  # one per adapter and the base model
    assert all(cached >= 8 for *_, cached in second_round), [cached for *_, cached in second_round]


@pytest.mark.e2e
def test_multi_lora_on_an_fp8_base(tiny_llama_path, adapters):
    results = _serve_mixed_batch(tiny_llama_path, adapters, quantization="ipex_low_bit",
                                 additional_config={"low_bit": "fp8"})
    _check(dequantized_hf_model(tiny_llama_path, "fp8"), results)


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
