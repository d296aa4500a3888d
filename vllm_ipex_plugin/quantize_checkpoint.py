"""Write a pre-quantized ``ipex_low_bit`` checkpoint that stock ``vllm serve DIR`` loads as is.

    python -m vllm_ipex_plugin.quantize_checkpoint MODEL_DIR --low-bit sym_int4 --output OUT_DIR

Every 2-D ``*.weight`` of a linear layer (attention and MLP projections; not embeddings,
norms or lm_head) whose input size is a multiple of 64 is replaced by the format's
tensors (``*.qweight``, ``*.scales``, ...; see docs/low_bit_formats.md). Other files
(tokenizer, generation config) are copied; ``config.json`` gains
``quantization_config = {"quant_method": "ipex_low_bit", "low_bit": ..., "prequantized": true}``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

from vllm_ipex_plugin.kernels.lowbit.formats import BLOCK, FORMAT_NAMES, canonical_name, get_format
from vllm_ipex_plugin.kernels.lowbit.reference import quantize

LINEAR_SUFFIXES = (
    "q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight", "qkv_proj.weight",
    "gate_proj.weight", "up_proj.weight", "down_proj.weight", "gate_up_proj.weight",
    "dense.weight", "query_key_value.weight", "dense_h_to_4h.weight", "dense_4h_to_h.weight",
    "fc1.weight", "fc2.weight", "c_attn.weight", "c_proj.weight", "c_fc.weight", "W_pack.weight",
)


def is_quantizable(name: str, tensor: torch.Tensor) -> bool:
    return tensor.dim() == 2 and name.endswith(LINEAR_SUFFIXES) and tensor.shape[1] % BLOCK == 0


def quantize_checkpoint(src: Path, dst: Path, low_bit: str) -> dict[str, int]:
    from safetensors.torch import load_file, save_file

    fmt = get_format(low_bit)
    config = json.loads((src / "config.json").read_text())
    if "quantization_config" in config:
        raise SystemExit(f"{src} is already quantized ({config['quantization_config'].get('quant_method')}).")
    dst.mkdir(parents=True, exist_ok=True)
    stats = {"quantized": 0, "kept": 0}
    for shard in sorted(src.glob("*.safetensors")):
        out = {}
        for name, tensor in load_file(str(shard)).items():
            if fmt.quantized and is_quantizable(name, tensor):
                base = name.removesuffix(".weight")
                for tname, t in quantize(tensor, fmt.name).items():
                    out[f"{base}.{tname}"] = t
                stats["quantized"] += 1
            else:
                if not fmt.quantized and tensor.is_floating_point():  # fp16 / bf16: every float tensor
                    tensor = tensor.to(fmt.payload_dtype)
                out[name] = tensor.contiguous()
                stats["kept"] += 1
        save_file(out, str(dst / shard.name), metadata={"format": "pt"})
    index = src / "model.safetensors.index.json"
    if index.exists():
        data = json.loads(index.read_text())
        data["weight_map"] = _remap_index(data["weight_map"], dst)
        (dst / index.name).write_text(json.dumps(data, indent=2))
    for extra in src.iterdir():
        if extra.is_file() and extra.suffix != ".safetensors" and extra.name not in (
            "config.json", "model.safetensors.index.json"
        ):
            shutil.copy2(extra, dst / extra.name)
    config["quantization_config"] = {
        "quant_method": "ipex_low_bit",
        "low_bit": fmt.name,
        "prequantized": fmt.quantized,
        "block_size": BLOCK,
        "format_version": 1,
    }
    (dst / "config.json").write_text(json.dumps(config, indent=2))
    return stats


def _remap_index(weight_map: dict[str, str], dst: Path) -> dict[str, str]:
    from safetensors import safe_open

    remapped = {}
    for shard in sorted(dst.glob("*.safetensors")):
        with safe_open(str(shard), "pt") as f:
            for key in f.keys():
                remapped[key] = shard.name
    return remapped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vllm_ipex_plugin.quantize_checkpoint", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="Hugging Face model folder (safetensors)")
    parser.add_argument("--low-bit", required=True, help=f"one of {', '.join(sorted(FORMAT_NAMES))}")
    parser.add_argument("--output", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        low_bit = canonical_name(args.low_bit)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stats = quantize_checkpoint(args.model, args.output, low_bit)
    print(f"wrote {args.output}: {stats['quantized']} weights in {low_bit}, {stats['kept']} tensors kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
