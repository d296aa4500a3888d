"""IPEX-LLM's vllm_offline_inference.py on stock vLLM with this plugin.

IPEX-LLM's version imported ``IPEXLLMClass as LLM`` and passed ``device="xpu"`` and
``load_in_low_bit="fp8"``; with the plugin, plain ``vllm.LLM`` does both: the platform
picks the Intel GPU, and the format goes through ``additional_config``.

    python examples/vllm_offline_inference.py [MODEL] [LOW_BIT]
    IPEX_PLUGIN_HOST_MODE=1 python examples/vllm_offline_inference.py   # on a CPU, demo model
"""

from __future__ import annotations

import sys

from vllm import LLM, SamplingParams

from vllm_ipex_plugin.demo_model import build_demo_model


def main() -> None:
    model = sys.argv[1] if len(sys.argv) > 1 else str(build_demo_model())
    low_bit = sys.argv[2] if len(sys.argv) > 2 else "fp8"
    prompts = ["Hello, my name is", "The president of the United States is", "The capital of France is",
               "The future of AI is"]
    llm = LLM(
        model=model,
        dtype="float16" if "--fp16" in sys.argv else "auto",
        enforce_eager=True,
        quantization="ipex_low_bit",
        additional_config={"low_bit": low_bit},
        max_model_len=2000,
        block_size=16,
    )
    for out in llm.generate(prompts, SamplingParams(temperature=0.8, top_p=0.95, max_tokens=32)):
        print(f"Prompt: {out.prompt!r}, Generated text: {out.outputs[0].text!r}")


if __name__ == "__main__":
    main()
