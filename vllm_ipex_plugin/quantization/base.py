"""What both ``ipex_low_bit`` linear schemes share once the weights are in the kernels' layout.

``IpexLowBitLinearMethod`` (``ipex_low_bit.py``: quantize on load, or pre-quantized tensors)
and ``AwqGptqLinearMethod`` (``awq_gptq.py``: AWQ / GPTQ tensors converted at load) differ in
what they register and how they convert; after ``process_weights_after_loading`` both hold
plain buffers in a format of ``kernels/lowbit/formats.py`` and the layer's matmul, chosen
once (``dispatch.layer_kernel``). ``apply`` gathers the buffers and calls it.
"""

from __future__ import annotations

import torch
from vllm.model_executor.layers.linear import LinearMethodBase

from vllm_ipex_plugin.quantization.dispatch import layer_kernel


class LowBitLinearMethod(LinearMethodBase):
    """Base of the two schemes. Layer attributes it sets: ``ipex_low_bit_tensors`` (buffer names
    without ``buffer_prefix``), ``ipex_low_bit_matmul``, ``input_perm`` (act-order, or None)."""

    buffer_prefix = ""  # AWQ/GPTQ: "lowbit_" (keeps clear of the public tensor names)

    def install(self, layer: torch.nn.Module, tensors: dict[str, torch.Tensor], fmt: str,
                input_perm: torch.Tensor | None = None) -> None:
        """The converted tensors (or those of the kernel chosen for them, ``dispatch.layer_kernel``)
        become plain buffers (no loader attributes left behind). The activations' dtype is the
        layer's ``params_dtype`` (vLLM's linear layers set it), else torch's default."""
        act_dtype = getattr(layer, "params_dtype", None) or torch.get_default_dtype()
        tensors, layer.ipex_low_bit_matmul = layer_kernel(fmt, tensors, act_dtype)
        for name, tensor in tensors.items():
            layer.register_buffer(self.buffer_prefix + name, tensor, persistent=False)
        layer.ipex_low_bit_tensors = tuple(tensors)
        layer.input_perm = input_perm

    def apply(self, layer: torch.nn.Module, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        if layer.input_perm is not None:
            x = x.index_select(-1, layer.input_perm)
        tensors = {name: getattr(layer, self.buffer_prefix + name) for name in layer.ipex_low_bit_tensors}
        return layer.ipex_low_bit_matmul(x, tensors, bias)
