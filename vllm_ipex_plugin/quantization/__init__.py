"""The ``ipex_low_bit`` weight quantization method (vLLM's side of the low-bit kernels).

- ``config``: ``IpexLowBitConfig`` (registered with vLLM as ``ipex_low_bit``), format choice;
- ``base``: what both linear schemes share (buffers, the layer's matmul, ``apply``);
- ``ipex_low_bit``: quantize on load / pre-quantized checkpoints; ``awq_gptq``: AWQ and GPTQ
  checkpoints converted at load;
- ``dispatch``: Triton kernels or torch reference, chosen once per layer;
- ``formats``: format names for the CLI; ``selection``: the platform's early check.

May import vLLM, ``vllm_ipex_plugin.envs``, ``log`` and ``kernels``; never the platform,
worker, attention or distributed packages.
"""

from __future__ import annotations


def register_quantization() -> None:
    """Register ``ipex_low_bit`` with vLLM (importing the config module registers it)."""
    from vllm_ipex_plugin.quantization import config  # noqa: F401
