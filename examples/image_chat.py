"""Ask a vision-language model about a local image, offline (``LLM.chat`` with a data-URL image).

    python examples/image_chat.py MODEL IMAGE [--question TEXT] [--low-bit sym_int4] [--max-tokens N]

MODEL: a vision-language checkpoint folder vLLM supports (e.g. Qwen2-VL, LLaVA, Idefics3,
MiniCPM-V). The vision tower stays in 16 bits; ``--low-bit`` quantizes the language model's
linear layers with ``ipex_low_bit``. The image travels as a data URL, the way an OpenAI client
sends it to ``/v1/chat/completions``.
"""

from __future__ import annotations

import argparse
import base64
import mimetypes
from pathlib import Path


def data_url(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("image", type=Path)
    parser.add_argument("--question", default="What is in this picture?")
    parser.add_argument("--low-bit", default=None, help="ipex_low_bit format for the language model")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--max-model-len", type=int, default=2048)
    args = parser.parse_args()

    from vllm import LLM, SamplingParams

    extra = {"quantization": "ipex_low_bit", "additional_config": {"low_bit": args.low_bit}} if args.low_bit else {}
    llm = LLM(model=args.model, max_model_len=args.max_model_len, limit_mm_per_prompt={"image": 1}, **extra)
    messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(args.image)}},
                                             {"type": "text", "text": args.question}]}]
    out = llm.chat(messages, SamplingParams(max_tokens=args.max_tokens, temperature=0.0), use_tqdm=False)[0]
    print(f"Question: {args.question!r}")
    print(f"Answer: {out.outputs[0].text!r} ({len(out.outputs[0].token_ids)} tokens)")


if __name__ == "__main__":
    main()
