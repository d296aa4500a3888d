"""Run an AWQ or GPTQ checkpoint offline through ``ipex_low_bit`` (converted to asym_int4 at load).

    python examples/awq_gptq_offline.py CHECKPOINT_DIR [--prompt TEXT ...] [--max-tokens N] [--dtype auto]

IPEX-LLM served these checkpoints with ``--quantization awq|gptq --load-in-low-bit asym_int4``;
here ``quantization="ipex_low_bit"`` reads the checkpoint's own ``quantization_config`` (AWQ GEMM
layout with zero points; GPTQ 4-bit sym/asym with act-order, symmetric 8-bit) and converts the
weights once, exactly. The server spelling: ``vllm serve CHECKPOINT_DIR --quantization ipex_low_bit``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULT_PROMPTS = ["The capital of France is", "Once upon a time there was"]


def describe(checkpoint: Path) -> str:
    """``awq 4-bit, group 128`` from the checkpoint's ``quantization_config``."""
    config = json.loads((checkpoint / "config.json").read_text()).get("quantization_config") or {}
    method = config.get("quant_method", "none")
    bits = config.get("bits", config.get("w_bit"))
    group = config.get("group_size", config.get("q_group_size"))
    act_order = " act-order" if config.get("desc_act") else ""
    return f"{method} {bits}-bit, group {group}{act_order}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--prompt", action="append", help="repeatable; default: two short prompts")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--max-model-len", type=int, default=2048)
    parser.add_argument("--dtype", default="auto", help="compute dtype (auto: the checkpoint's)")
    args = parser.parse_args()

    from vllm import LLM, SamplingParams

    print(f"checkpoint: {describe(args.checkpoint)}")
    llm = LLM(model=str(args.checkpoint), quantization="ipex_low_bit", max_model_len=args.max_model_len,
              dtype=args.dtype)
    prompts = args.prompt or DEFAULT_PROMPTS
    outs = llm.generate(prompts, SamplingParams(temperature=0.0, max_tokens=args.max_tokens, ignore_eos=True),
                        use_tqdm=False)
    for prompt, out in zip(prompts, outs, strict=True):
        print(f"Prompt: {prompt!r}, Generated text: {out.outputs[0].text!r}")


if __name__ == "__main__":
    main()
