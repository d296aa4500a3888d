"""Which of vLLM's processes this is, told by the name vLLM's executor gives it.

Manifest entry ``worker-process-name`` (``compat/__init__.py``). vLLM's multiprocessing
executor starts each worker as ``multiprocessing`` process ``VllmWorker-<rank>``; vLLM offers
no other way to ask, at plugin-load time, whether a process is a worker or an engine core.
"""

from __future__ import annotations

import multiprocessing

WORKER_PROCESS_PREFIX = "VllmWorker-"


def is_vllm_worker_process() -> bool:
    """Whether this process is one of the workers vLLM's multiprocessing executor started."""
    return multiprocessing.current_process().name.startswith(WORKER_PROCESS_PREFIX)
