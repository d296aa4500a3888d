"""Several LoRA adapters beside their base model in one offline batch (multi-LoRA).

    python examples/lora_offline.py MODEL --lora NAME=ADAPTER_DIR [--lora ...] [--low-bit sym_int4]
                                    [--prompt TEXT ...] [--max-tokens N]

Every prompt runs once on the base model and once per adapter, all in one ``generate`` call
(vLLM batches requests of different adapters together). ADAPTER_DIR: a PEFT adapter folder
(``adapter_config.json`` + weights). ``--low-bit`` serves a quantized base (``ipex_low_bit``);
the adapters stay in 16 bits. The server spelling of the same thing is
``vllm serve MODEL --enable-lora --lora-modules NAME=ADAPTER_DIR ...``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULT_PROMPTS = ["The quick brown fox", "Once upon a time there"]


def adapter_rank(folder: str) -> int:
    """The adapter's LoRA rank (``r`` in its ``adapter_config.json``)."""
    return int(json.loads((Path(folder) / "adapter_config.json").read_text())["r"])


def parse_adapter(text: str) -> tuple[str, str]:
    name, sep, folder = text.partition("=")
    if not sep or not name or not (Path(folder) / "adapter_config.json").is_file():
        raise argparse.ArgumentTypeError(f"--lora {text!r}: expected NAME=DIR with DIR/adapter_config.json")
    return name, folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--lora", type=parse_adapter, action="append", required=True, metavar="NAME=DIR")
    parser.add_argument("--low-bit", default=None, help="ipex_low_bit format for the base model")
    parser.add_argument("--prompt", action="append", help="repeatable; default: two short prompts")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--max-model-len", type=int, default=1024)
    args = parser.parse_args()

    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    extra = {"quantization": "ipex_low_bit", "additional_config": {"low_bit": args.low_bit}} if args.low_bit else {}
    llm = LLM(model=args.model, max_model_len=args.max_model_len, enable_lora=True,
              max_lora_rank=max(adapter_rank(folder) for _, folder in args.lora), max_loras=len(args.lora), **extra)
    prompts = args.prompt or DEFAULT_PROMPTS
    requests = [None] + [LoRARequest(name, i + 1, folder) for i, (name, folder) in enumerate(args.lora)]
    batch = [(request, prompt) for request in requests for prompt in prompts]
    outs = llm.generate([p for _, p in batch], SamplingParams(temperature=0.0, max_tokens=args.max_tokens),
                        lora_request=[r for r, _ in batch], use_tqdm=False)
    for (request, prompt), out in zip(batch, outs, strict=True):
        print(f"[{request.lora_name if request else 'base'}] {prompt!r} -> {out.outputs[0].text!r}")


if __name__ == "__main__":
    main()
