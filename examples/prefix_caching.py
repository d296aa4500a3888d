"""IPEX-LLM's prefix-caching demo on stock vLLM with this plugin: two questions about one long table.

The second question shares the whole table with the first; with prefix caching its prompt's
KV blocks are already in the cache and only the question is computed. The script runs both
questions with caching off and on, prints the answers (they must be the same) and both
timings of the second question, with the speedup (a ratio within this one run).

    python examples/prefix_caching.py [MODEL] [--rows N] [--low-bit FORMAT]
    IPEX_PLUGIN_HOST_MODE=1 python examples/prefix_caching.py     # on a CPU, demo model
"""

from __future__ import annotations

import argparse
import gc
import time

FIRST_NAMES = ["John", "Jane", "Zack", "Mia", "Omar", "Li", "Ana", "Raj", "Eva", "Tom", "Ivy", "Sam"]
LAST_NAMES = ["Doe", "Smith", "Blue", "Khan", "Lopez", "Chen", "Novak", "Rossi", "Berg", "Ito"]
CITIES = ["Paris", "Lagos", "Austin", "Osaka", "Lima", "Oslo", "Pune", "Cairo", "Porto", "Perth"]


def long_table(rows: int) -> str:
    """A markdown table of ``rows`` people (deterministic), like the demo's employee table."""
    lines = ["| ID | Name | Age | Occupation | Country | Email | Phone | City |",
             "|----|------|-----|------------|---------|-------|-------|------|"]
    for i in range(rows):
        first, last = FIRST_NAMES[i % len(FIRST_NAMES)], LAST_NAMES[(i * 7) % len(LAST_NAMES)]
        lines.append(f"| {i + 1} | {first} {last} | {20 + (i * 13) % 45} | Engineer | Country{i % 9} | "
                     f"{first.lower()}.{last.lower()}{i}@example.com | 555-{1000 + i} | {CITIES[i % len(CITIES)]} |")
    return "\n".join(lines)


def questions(rows: int) -> list[str]:
    table = long_table(rows)
    prefix = ("You are a helpful assistant that answers questions about the table below.\n\n"
              f"{table}\n\nQuestion: ")
    return [prefix + "What is the age of John Doe? Answer:", prefix + "What is the age of Zack Blue? Answer:"]


def run(model: str, prompts: list[str], caching: bool, low_bit: str | None, max_tokens: int):
    """Both questions, one after the other; returns (answers, seconds of the second question)."""
    from vllm import LLM, SamplingParams

    extra = {"quantization": "ipex_low_bit", "additional_config": {"low_bit": low_bit}} if low_bit else {}
    llm = LLM(model=model, enable_prefix_caching=caching, enforce_eager=True, max_model_len=4096, seed=0, **extra)
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens)
    answers, second = [], 0.0
    for i, prompt in enumerate(prompts):
        start = time.perf_counter()
        answers.append(llm.generate([prompt], params, use_tqdm=False)[0].outputs[0].text)
        if i == 1:
            second = time.perf_counter() - start
    del llm
    gc.collect()
    return answers, second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="model folder (default: the demo model)")
    parser.add_argument("--rows", type=int, default=60, help="table rows (60 = about 3k prompt tokens)")
    parser.add_argument("--low-bit", default=None, help="an ipex_low_bit format, e.g. sym_int4")
    parser.add_argument("--max-tokens", type=int, default=12)
    args = parser.parse_args()
    if args.model is None:
        from vllm_ipex_plugin.demo_model import build_demo_model

        args.model = str(build_demo_model())
    prompts = questions(args.rows)
    plain, t_plain = run(args.model, prompts, False, args.low_bit, args.max_tokens)
    cached, t_cached = run(args.model, prompts, True, args.low_bit, args.max_tokens)
    for prompt_no, (a, b) in enumerate(zip(plain, cached, strict=True), 1):
        print(f"question {prompt_no}: without caching {a!r} | with caching {b!r}")
    print(f"same answers: {plain == cached}")
    print(f"second question: {t_plain:.2f} s without prefix caching, {t_cached:.2f} s with it: "
          f"{t_plain / t_cached:.1f}x faster")
    if plain != cached:
        raise SystemExit("prefix caching changed the answers")


if __name__ == "__main__":
    main()
