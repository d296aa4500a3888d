"""Multi-LoRA on the CPU (host mode) without the no-adapter rows picking up the last adapter.

Manifest entry ``punica-cpu-no-lora-rows`` (``compat/__init__.py``). vLLM's CPU punica ops
(``vllm.lora.ops.torch_ops``) gather the stacked adapter weights with each token's adapter
slot, and a token of a request without an adapter has slot ``-1``, which torch indexing reads
as the *last* slot: in a batch that mixes adapter and plain requests, the plain ones get the
last adapter's delta (stock vLLM's CPU platform does the same). The GPU punica kernels skip
slot ``-1``. This wrapper zeroes the shrink result of those rows, so the expand adds nothing
to them: the same result as the GPU kernels.
"""

from __future__ import annotations

from typing import Any

import torch
from vllm.lora.ops.torch_ops import bgmv_expand, bgmv_shrink
from vllm.lora.punica_wrapper.punica_cpu import PunicaWrapperCPU

NO_LORA_SLOT = -1


def _zero_rows_without_lora(y: torch.Tensor, slots: torch.Tensor) -> None:
    rows = min(y.shape[0], slots.shape[0])
    y[:rows][slots[:rows] == NO_LORA_SLOT] = 0


class HostPunicaWrapper(PunicaWrapperCPU):
    """vLLM's CPU punica wrapper with slot ``-1`` meaning "no adapter", as on the GPU."""

    def _shrink_prefill(self, y: torch.Tensor, x: torch.Tensor, w_t_all: torch.Tensor, scale: float):
        super()._shrink_prefill(y, x, w_t_all, scale)
        if not self.no_lora:
            _zero_rows_without_lora(y, self.token_lora_indices)

    def _shrink_decode(self, y: torch.Tensor, x: torch.Tensor, w_t_all: torch.Tensor, scale: float):
        super()._shrink_decode(y, x, w_t_all, scale)
        _zero_rows_without_lora(y, self.token_lora_indices)

    def add_lora_logits(self, y: torch.Tensor, x: torch.Tensor, lora_a_stacked: torch.Tensor,
                        lora_b_stacked: torch.Tensor, scale, *, buffer: torch.Tensor | None = None,
                        **kwargs: Any) -> None:
        # vLLM's version with the no-adapter rows of the shrink result zeroed in between.
        y_org = y
        y = y.view(-1, y.shape[-1])
        x = x.view(-1, x.shape[-1])
        if buffer is None:
            buffer = torch.zeros((x.size(0), lora_b_stacked.size(-1)), dtype=torch.float32, device=x.device)
        bgmv_shrink(x, lora_a_stacked, buffer, self.sampler_indices, scale)
        _zero_rows_without_lora(buffer, self.sampler_indices)
        bgmv_expand(buffer, lora_b_stacked, y, self.sampler_indices, add_inputs=True)
        y.view_as(y_org)
