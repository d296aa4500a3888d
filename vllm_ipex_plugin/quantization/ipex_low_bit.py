"""The linear method of ``ipex_low_bit``: quantize on load, or load pre-quantized tensors.

Per layer (and per tensor-parallel shard, since vLLM hands each rank its own slice):
``create_weights`` registers the 16-bit ``weight`` (or, for a pre-quantized checkpoint,
the packed tensors of the format); ``process_weights_after_loading`` quantizes it in
place of the float weight, which is freed at once, so the model is never held twice;
``apply`` (``base.LowBitLinearMethod``) runs the layer's matmul, chosen once after loading.
"""

from __future__ import annotations

import time

import torch
from vllm.model_executor.parameter import ModelWeightParameter
from vllm.model_executor.utils import set_weight_attrs

from vllm_ipex_plugin.kernels.lowbit.formats import BLOCK, get_format
from vllm_ipex_plugin.log import get_logger
from vllm_ipex_plugin.quantization.base import LowBitLinearMethod
from vllm_ipex_plugin.quantization.dispatch import quantize_weight

logger = get_logger(__name__)

_stats = {"layers": 0, "seconds": 0.0, "bytes_before": 0, "bytes_after": 0}


class IpexLowBitLinearMethod(LowBitLinearMethod):
    def __init__(self, quant_config, prefix: str) -> None:
        self.quant_config = quant_config
        self.prefix = prefix

    def create_weights(
        self,
        layer: torch.nn.Module,
        input_size_per_partition: int,
        output_partition_sizes: list[int],
        input_size: int,
        output_size: int,
        params_dtype: torch.dtype,
        **extra_weight_attrs,
    ) -> None:
        fmt = get_format(self.quant_config.low_bit)
        n, k = sum(output_partition_sizes), input_size_per_partition
        weight_loader = extra_weight_attrs.pop("weight_loader")
        layer.ipex_low_bit_format = fmt.name
        layer.ipex_low_bit_active = k % BLOCK == 0 or not fmt.quantized
        if self.quant_config.prequantized and layer.ipex_low_bit_active:
            # (The quantize tool leaves layers whose input is not a multiple of 64 in 16 bits.)
            tensors = fmt.tensor_shapes(n, k)
        else:
            tensors = {"weight": ((n, k), params_dtype)}
        for name, (shape, dtype) in tensors.items():
            param = ModelWeightParameter(
                data=torch.empty(shape, dtype=dtype),
                input_dim=1,
                output_dim=0,
                weight_loader=_checked_loader(
                    weight_loader, f"{self.prefix}.{name}", dtype, exact=name != "weight"
                ),
            )
            layer.register_parameter(name, param)
            set_weight_attrs(param, extra_weight_attrs)

    def process_weights_after_loading(self, layer: torch.nn.Module) -> None:
        fmt = layer.ipex_low_bit_format
        if self.quant_config.prequantized and get_format(fmt).quantized and layer.ipex_low_bit_active:
            stored = {}
            for name in get_format(fmt).tensor_shapes(1, BLOCK):
                stored[name] = getattr(layer, name).data
                delattr(layer, name)
            self.install(layer, stored, fmt)
            return
        weight = layer.weight
        if not layer.ipex_low_bit_active:
            logger.warning(
                "vllm_ipex_plugin: %s has input size %d, not a multiple of %d; it stays in %s.",
                self.prefix,
                weight.shape[1],
                BLOCK,
                str(weight.dtype).removeprefix("torch."),
            )
            return
        start = time.perf_counter()
        packed = quantize_weight(weight.data, fmt)
        before = weight.numel() * weight.element_size()
        del layer.weight  # free the 16-bit copy before the next layer quantizes
        self.install(layer, packed, fmt)
        _stats["layers"] += 1
        _stats["seconds"] += time.perf_counter() - start
        _stats["bytes_before"] += before
        _stats["bytes_after"] += sum(t.numel() * t.element_size() for t in packed.values())
        if _stats["layers"] % 50 == 0:
            logger.info(
                "vllm_ipex_plugin: quantized %d layers to %s (%.1f s, %.0f -> %.0f MiB)",
                _stats["layers"],
                fmt,
                _stats["seconds"],
                _stats["bytes_before"] / 2**20,
                _stats["bytes_after"] / 2**20,
            )

    def apply(self, layer: torch.nn.Module, x: torch.Tensor, bias: torch.Tensor | None = None):
        if not layer.ipex_low_bit_active:
            return torch.nn.functional.linear(x, layer.weight.to(x.dtype), bias)
        return super().apply(layer, x, bias)


def _checked_loader(loader, tensor_name: str, dtype: torch.dtype, exact: bool):
    """Refuse pre-quantized tensors whose dtype or packed width does not fit the declared format.

    A float ``weight`` (quantize on load) may come in any float dtype (``exact=False``).
    """

    def load(param, loaded_weight, *args, **kwargs):
        if exact:
            from vllm.distributed import get_tensor_model_parallel_world_size

            cols, tp = param.shape[-1], get_tensor_model_parallel_world_size()
            if loaded_weight.dtype != dtype or loaded_weight.shape[-1] not in (cols, cols * tp):
                raise ValueError(
                    f"ipex_low_bit checkpoint: tensor {tensor_name} is {loaded_weight.dtype} "
                    f"{tuple(loaded_weight.shape)}, but the declared format needs {dtype} with "
                    f"{cols} columns per shard. The checkpoint's quantization_config does not match "
                    "its tensors; re-quantize it with python -m vllm_ipex_plugin.quantize_checkpoint."
                )
        return loader(param, loaded_weight, *args, **kwargs)

    return load
