"""XPU model runners: vLLM's GPU runners built under the torch.cuda -> torch.xpu alias."""

from __future__ import annotations

import torch
from vllm.config import VllmConfig
from vllm.v1.worker.gpu_model_runner import GPUModelRunner

from vllm_ipex_plugin.compat.torch_cuda_alias import alias_torch_cuda_to_xpu


class XpuModelRunner(GPUModelRunner):
    """vLLM's V1 GPU model runner on an Intel GPU."""

    def __init__(self, vllm_config: VllmConfig, device: torch.device):
        alias_torch_cuda_to_xpu()
        super().__init__(vllm_config, device)


def make_v2_runner(vllm_config: VllmConfig, device: torch.device):
    """vLLM's V2 runner (the default where Triton runs) on an Intel GPU."""
    from vllm.v1.worker.gpu.model_runner import GPUModelRunner as GPUModelRunnerV2

    alias_torch_cuda_to_xpu()
    return GPUModelRunnerV2(vllm_config, device)
