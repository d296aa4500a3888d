"""n-gram speculative decoding and JSON-schema structured output on the plugin's platform (host mode).

n-gram drafts are checked by the target model, so greedy output must equal plain greedy
decoding token for token (float32, same weights); the drafts must also have been proposed and
partly accepted, or the test proves nothing. Structured output must parse as JSON and follow
the schema.
"""

from __future__ import annotations

import json

import pytest

from tests.harness.runners import greedy_params, llm_greedy, with_llm

# Repetitive prompts give the n-gram proposer something to find.
PROMPTS = [
    "Count with me: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2, 3, 4, 5, 6, 7,",
    "The capital of France is",
    "red green blue red green blue red green blue red",
]
NGRAM = {"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_max": 4, "prompt_lookup_min": 2}
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 24}, "country": {"type": "string", "maxLength": 24},
                   "population": {"type": "integer", "minimum": 0, "maximum": 99999999}},
    "required": ["city", "country", "population"],
    "additionalProperties": False,
}


def _counter(metrics, name: str) -> float:
    return sum(m.value for m in metrics if m.name == name)


@pytest.mark.e2e
def test_ngram_speculative_decoding_equals_plain_greedy_and_structured_output_follows_the_schema(demo_model_path):
    from vllm import SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    plain = llm_greedy(demo_model_path, PROMPTS, max_tokens=32)

    def use(llm):
        outs = llm.generate(PROMPTS, greedy_params(32), use_tqdm=False)
        metrics = llm.get_metrics()
        guided = llm.generate(
            ["Describe Paris as JSON with its city, country and population:"],
            SamplingParams(temperature=0.0, max_tokens=160, structured_outputs=StructuredOutputsParams(json=SCHEMA)),
            use_tqdm=False)
        return [(list(o.prompt_token_ids), list(o.outputs[0].token_ids)) for o in outs], metrics, guided[0].outputs[0]

    speculative, metrics, guided = with_llm(demo_model_path, use, speculative_config=NGRAM, disable_log_stats=False)
    assert speculative == plain
    drafted = _counter(metrics, "vllm:spec_decode_num_draft_tokens")
    accepted = _counter(metrics, "vllm:spec_decode_num_accepted_tokens")
    assert drafted > 0 and accepted > 0, (drafted, accepted)

    assert guided.finish_reason == "stop", guided.text  # the grammar closed the object
    document = json.loads(guided.text)
    assert set(document) == {"city", "country", "population"}, document
    assert isinstance(document["city"], str) and isinstance(document["country"], str)
    assert isinstance(document["population"], int) and 0 <= document["population"] <= 99999999
