"""The one place where the plugin patches torch: ``torch.cuda.*`` -> ``torch.xpu.*``.

Why: vLLM's ``GPUModelRunner`` (which this plugin reuses rather than forks) calls
``torch.cuda.Stream``, ``Event``, ``current_stream``, ``stream``, ``set_stream`` and the
graph APIs directly. vLLM's own XPU runner (``vllm/v1/worker/xpu_model_runner.py``)
and CPU runner (``vllm/v1/worker/cpu/shm.py``) alias them the same way; this is the
only monkey-patch the plugin applies. In host mode vLLM's CPU worker installs its own
no-op placeholders, so nothing is patched here.

Each callable is wrapped in its own ``functools.partial`` so it is not the same object
as the ``torch.xpu`` function: TorchDynamo asserts on duplicate handler registration.
"""

from __future__ import annotations

from functools import partial

import torch

_applied = False


def alias_torch_cuda_to_xpu() -> None:
    """Point the ``torch.cuda`` names the GPU runner uses at ``torch.xpu``. Idempotent."""
    global _applied
    if _applied:
        return
    xpu = torch.xpu
    torch.cuda.Stream = xpu.Stream
    torch.cuda.default_stream = partial(xpu.current_stream)
    torch.cuda.current_stream = partial(xpu.current_stream)
    torch.cuda.stream = partial(xpu.stream)
    torch.cuda.set_stream = partial(xpu.set_stream)

    def _xpu_event(*args, blocking=None, **kwargs):
        # torch.xpu.Event has no ``blocking`` argument.
        return xpu.Event(*args, **kwargs)

    torch.cuda.Event = _xpu_event
    if hasattr(xpu, "XPUGraph"):
        torch.cuda.graph = partial(xpu.graph)
        torch.cuda.CUDAGraph = xpu.XPUGraph
        torch.cuda.graph_pool_handle = partial(xpu.graph_pool_handle)
        torch.cuda.is_current_stream_capturing = xpu.is_current_stream_capturing
    _applied = True


def use_host_accelerator_noops() -> None:
    """Host mode: make ``torch.accelerator.synchronize/empty_cache`` no-ops in this process.

    vLLM's CPU model runner does exactly this in the worker process; the engine-core
    process also calls ``torch.accelerator.empty_cache()`` at shutdown for any platform
    that is not vLLM's own CPU platform, which raises on a machine with no accelerator.
    Reuses vLLM's own helper; ``empty_host_cache`` (called right after, same shutdown
    path) gets the same treatment.
    """
    import torch
    from vllm.v1.worker.cpu_model_runner import _set_torch_accelerator_to_noop

    _set_torch_accelerator_to_noop()

    def empty_host_cache_noop(*args, **kwargs) -> None:
        return None

    torch.accelerator.empty_host_cache = empty_host_cache_noop
