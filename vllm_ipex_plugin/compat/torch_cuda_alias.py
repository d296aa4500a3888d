"""``torch.cuda.*`` -> ``torch.xpu.*``: the stream, event and graph names vLLM's GPU runner calls.

Manifest entry ``torch-cuda-alias`` (``compat/__init__.py``). vLLM's ``GPUModelRunner`` (which
the plugin reuses rather than forks) calls ``torch.cuda.Stream``, ``Event``, ``current_stream``,
``stream``, ``set_stream`` and the graph APIs directly. vLLM's own XPU runner
(``vllm/v1/worker/xpu_model_runner.py``, ``_torch_cuda_wrapper``) rebinds them the same way,
process-wide and never restored. It is one of the plugin's touches of torch / vLLM internals;
``compat/__init__.py`` lists them all. In host mode vLLM's CPU worker installs its own no-op
placeholders, so nothing is rebound here.

Each callable is wrapped in its own ``functools.partial`` so it is not the same object as the
``torch.xpu`` function: TorchDynamo asserts on duplicate handler registration.
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
