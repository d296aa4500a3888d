"""vLLM's GPU ``Worker``: the private hooks the plugin's workers override or call.

Manifest entries ``memory-pool-context``, ``make-model-runner``, ``workspace-and-runner`` and
``init-device-mirror`` (``compat/__init__.py``). The workers in ``worker/`` subclass vLLM's
public ``Worker`` / ``CPUWorker`` and reach its private parts only through this module.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from vllm.utils.mem_utils import MemorySnapshot
from vllm.v1.worker.gpu_worker import init_worker_distributed_environment
from vllm.v1.worker.utils import request_memory

__all__ = [
    "NoSleepModePools",
    "OwnModelRunner",
    "build_workspace_and_model_runner",
    "init_worker_distributed_environment",
    "take_init_memory_snapshot",
]


class NoSleepModePools:
    """Sleep-mode memory pools: not available on the plugin's platform yet.

    vLLM's GPU worker asks for a sleep-mode allocator on any platform it does not
    recognise as CUDA, XPU or CPU; the plugin's platform has none, so every pool
    context is a no-op (weights, KV cache and workspace use the default allocator)."""

    def _maybe_get_memory_pool_context(self, tag: str) -> AbstractContextManager:
        return nullcontext()


class OwnModelRunner:
    """Routes vLLM's private ``Worker._make_model_runner`` to the worker's ``make_model_runner``."""

    def make_model_runner(self):
        raise NotImplementedError

    def _make_model_runner(self):
        return self.make_model_runner()


def take_init_memory_snapshot(worker) -> None:
    """The memory snapshot and request ``Worker.init_device`` records (read by its memory profiling)."""
    worker.init_snapshot = MemorySnapshot(device=worker.device)
    worker.requested_memory = request_memory(worker.init_snapshot, worker.cache_config)


def build_workspace_and_model_runner(worker) -> None:
    """The last step of ``Worker.init_device``: workspace manager, then ``worker.model_runner``."""
    worker._init_workspace_and_model_runner()
