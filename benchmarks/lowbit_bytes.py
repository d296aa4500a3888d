"""Weight bytes per ipex_low_bit format vs fp16, for SmolLM2-135M and Llama-3-8B linear shapes.

    python benchmarks/lowbit_bytes.py

Counts the stored tensors of every quantized projection (quantize() on a zero weight of
each shape gives the exact tensor sizes); embeddings and lm_head stay 16-bit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vllm_ipex_plugin.kernels.lowbit.formats import FORMATS  # noqa: E402

MODELS = {
    # (K, N) per decoder layer: qkv, o, gate_up, down; layers; 16-bit rest (embed + head)
    "SmolLM2-135M": ([(576, 576 + 2 * 192), (576, 576), (576, 2 * 1536), (1536, 576)], 30, 49152 * 576),
    "Llama-3-8B": ([(4096, 6144), (4096, 4096), (4096, 28672), (14336, 4096)], 32, 2 * 128256 * 4096),
}


def main() -> None:
    print(f"{'model':14} {'format':10} {'linear GB':>10} {'vs fp16':>8} {'model GB':>9} {'vs fp16':>8}")
    for model, (shapes, layers, rest) in MODELS.items():
        fp16_linear = sum(k * n for k, n in shapes) * layers * 2
        for name, fmt in FORMATS.items():
            linear = sum(sum(torch.Size(s).numel() * d.itemsize for s, d in fmt.tensor_shapes(n, k).values())
                         for k, n in shapes) * layers
            total, total16 = linear + rest * 2, fp16_linear + rest * 2
            print(f"{model:14} {name:10} {linear / 1e9:10.3f} {linear / fp16_linear:8.3f} {total / 1e9:9.3f} "
                  f"{total / total16:8.3f}")


if __name__ == "__main__":
    main()
