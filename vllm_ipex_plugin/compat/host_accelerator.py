"""Host mode: ``torch.accelerator`` calls vLLM makes on a machine with no accelerator.

Manifest entries ``accelerator-noops`` and ``empty-host-cache`` (``compat/__init__.py``).
"""

from __future__ import annotations

import torch


def use_host_accelerator_noops() -> None:
    """Make ``torch.accelerator.synchronize/empty_cache/empty_host_cache`` no-ops in this process.

    vLLM's CPU model runner does exactly this in the worker process; the engine-core
    process also calls ``torch.accelerator.empty_cache()`` at shutdown for any platform
    that is not vLLM's own CPU platform, which raises on a machine with no accelerator.
    Reuses vLLM's own helper; ``empty_host_cache`` (called right after, same shutdown
    path) gets the same treatment.
    """
    from vllm.v1.worker.cpu_model_runner import _set_torch_accelerator_to_noop

    _set_torch_accelerator_to_noop()

    def empty_host_cache_noop(*args, **kwargs) -> None:
        return None

    torch.accelerator.empty_host_cache = empty_host_cache_noop
