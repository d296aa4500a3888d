"""Collectives for the plugin's platform.

On an Intel GPU the device group uses PyTorch's ``xccl`` backend (oneCCL); vLLM's
``XpuCommunicator`` already implements the collectives on top of it with no
vllm-xpu-kernels dependency, so it is reused. In host mode the device group is
``gloo``, which has no ``all_gather_into_tensor`` / ``reduce_scatter_tensor``: those
two fall back to list-based collectives there.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from vllm_ipex_plugin.compat.communicator import VllmXpuCommunicator


def _is_gloo(group) -> bool:
    return dist.get_backend(group) == "gloo"


class XpuCommunicator(VllmXpuCommunicator):
    """oneCCL (xccl) collectives on XPU; gloo-compatible collectives in host mode."""

    def all_gather(self, input_: torch.Tensor, dim: int = -1) -> torch.Tensor:
        if not _is_gloo(self.device_group):
            return super().all_gather(input_, dim)
        if dim < 0:
            dim += input_.dim()
        parts = [torch.empty_like(input_) for _ in range(self.world_size)]
        dist.all_gather(parts, input_.contiguous(), group=self.device_group)
        return torch.cat(parts, dim=dim)

    def reduce_scatter(self, input_: torch.Tensor, dim: int = -1) -> torch.Tensor:
        if not _is_gloo(self.device_group):
            return super().reduce_scatter(input_, dim)
        if dim < 0:
            dim += input_.dim()
        total = input_.clone()
        dist.all_reduce(total, group=self.device_group)
        return total.chunk(self.world_size, dim=dim)[self.rank_in_group].contiguous()

    def all_reduce(self, input_: torch.Tensor) -> torch.Tensor:
        out = input_.clone()
        dist.all_reduce(out, group=self.device_group)
        return out
