"""Embeddings on the plugin's platform (``runner="pooling"``): vLLM's pooled vectors against
transformers' final hidden states of the same weights, pooled and L2-normalised the same way.

Bound: 1e-4 absolute per component (float32 both sides; unit vectors)."""

from __future__ import annotations

import pytest
import torch

from tests.harness.reference import dequantized_hf_model, hf_model
from tests.harness.runners import with_llm

PROMPTS = ["The capital of France is", "def add(a, b):\n    return", "Once upon a time"]
BOUND = 1e-4


def _reference(model, token_ids: list[int], pooling: str) -> torch.Tensor:
    with torch.no_grad():
        hidden = model.model(torch.tensor([token_ids])).last_hidden_state[0].double()
    pooled = hidden[-1] if pooling == "LAST" else hidden.mean(0)
    return torch.nn.functional.normalize(pooled, dim=0)


def _embed(model_path: str, pooling: str, **llm_kwargs):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    ids = [tokenizer(p)["input_ids"] for p in PROMPTS]

    def use(llm):
        outs = llm.embed([{"prompt_token_ids": i} for i in ids], use_tqdm=False)
        return [torch.tensor(o.outputs.embedding, dtype=torch.float64) for o in outs]

    return ids, with_llm(model_path, use, runner="pooling",
                         pooler_config={"pooling_type": pooling, "use_activation": True}, **llm_kwargs)


@pytest.mark.e2e
@pytest.mark.parametrize("pooling", ["LAST", "MEAN"])
def test_embeddings_match_transformers(tiny_llama_path, pooling):
    ids, got = _embed(tiny_llama_path, pooling)
    model = hf_model(tiny_llama_path)
    for token_ids, vector in zip(ids, got, strict=True):
        assert (vector - _reference(model, token_ids, pooling)).abs().max().item() < BOUND


@pytest.mark.e2e
def test_embeddings_of_a_sym_int4_base_match_its_dequantized_weights(tiny_llama_path):
    ids, got = _embed(tiny_llama_path, "MEAN", quantization="ipex_low_bit", additional_config={"low_bit": "sym_int4"})
    model, unquantized = dequantized_hf_model(tiny_llama_path, "sym_int4"), hf_model(tiny_llama_path)
    for token_ids, vector in zip(ids, got, strict=True):
        want = _reference(model, token_ids, "MEAN")
        assert (vector - want).abs().max().item() < BOUND
        # the weights really were 4-bit: the float32 model's embedding is farther off than the bound
        assert (vector - _reference(unquantized, token_ids, "MEAN")).abs().max().item() > 10 * BOUND


@pytest.mark.e2e
def test_embeddings_route_of_the_server(tiny_llama_path, tmp_path):
    import json
    import urllib.request

    from transformers import AutoTokenizer

    from tests.harness.server import VllmServer, free_port

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_path)
    ids = [tokenizer(p)["input_ids"] for p in PROMPTS]
    args = ["--dtype", "float32", "--enforce-eager", "--max-model-len", "256", "--runner", "pooling",
            "--pooler-config", json.dumps({"pooling_type": "LAST", "use_activation": True}),
            "--served-model-name", "emb"]
    with VllmServer(tiny_llama_path, args, free_port(), str(tmp_path / "serve.log")) as server:
        body = json.dumps({"model": "emb", "input": ids}).encode()
        request = urllib.request.Request(server.base_url + "/v1/embeddings", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as resp:
            data = json.load(resp)["data"]
    model = hf_model(tiny_llama_path)
    assert [d["index"] for d in data] == list(range(len(ids)))
    for token_ids, item in zip(ids, data, strict=True):
        vector = torch.tensor(item["embedding"], dtype=torch.float64)
        assert (vector - _reference(model, token_ids, "LAST")).abs().max().item() < BOUND
