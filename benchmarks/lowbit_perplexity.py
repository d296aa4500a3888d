"""Perplexity of SmolLM2-135M per ipex_low_bit format, through vLLM + plugin (host mode).

    IPEX_PLUGIN_HOST_MODE=1 python benchmarks/lowbit_perplexity.py [--tokens 8192]

Text: license files from /usr/share/common-licenses (set A of formats-measured.md), cut
to --tokens tokens, windows of 512 (stride 512), prompt logprobs. Decoder projections
quantized, embeddings and lm_head untouched. Prints a table: format, perplexity, ratio
to float32.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
from pathlib import Path

LICENSES = ["GPL-3", "Apache-2.0", "MPL-2.0", "Artistic", "CC0-1.0", "BSD", "GFDL-1.3"]
FORMATS = ["fp32", "fp16", "sym_int8", "fp8_e4m3", "fp8_e5m2", "fp6", "nf4", "sym_int4", "asym_int4"]


def main() -> None:
    os.environ.setdefault("IPEX_PLUGIN_HOST_MODE", "1")
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=8192)
    args = ap.parse_args()
    from transformers import AutoTokenizer
    from vllm import LLM, SamplingParams

    from vllm_ipex_plugin.demo_model import build_demo_model

    model = str(build_demo_model())
    text = "\n\n".join(
        Path(f"/usr/share/common-licenses/{name}").read_text(errors="ignore")
        for name in LICENSES
        if Path(f"/usr/share/common-licenses/{name}").exists()
    )
    ids = AutoTokenizer.from_pretrained(model)(text)["input_ids"][: args.tokens]
    windows = [ids[i : i + 512] for i in range(0, len(ids) - 1, 512) if len(ids[i : i + 512]) > 1]
    params = SamplingParams(max_tokens=1, prompt_logprobs=0)
    results = {}
    for fmt in FORMATS:
        kwargs = {} if fmt == "fp32" else {"quantization": "ipex_low_bit", "additional_config": {"low_bit": fmt}}
        llm = LLM(model=model, dtype="float32", enforce_eager=True, max_model_len=600, seed=0, **kwargs)
        total, count = 0.0, 0
        outs = llm.generate([{"prompt_token_ids": w} for w in windows], params, use_tqdm=False)
        for out in outs:
            toks = out.prompt_token_ids
            for i in range(1, len(toks)):
                total += out.prompt_logprobs[i][toks[i]].logprob
                count += 1
        results[fmt] = math.exp(-total / count)
        del llm
        gc.collect()
        print(f"{fmt}: {results[fmt]:.3f} ({count} tokens)", flush=True)
    print(f"\nSmolLM2-135M-Instruct perplexity, {count} tokens of license texts, windows of 512, float32 compute")
    print(f"{'format':10} {'perplexity':>10} {'vs fp32':>8}")
    for fmt, ppl in results.items():
        print(f"{fmt:10} {ppl:10.3f} {ppl / results['fp32']:8.3f}")


if __name__ == "__main__":
    main()
