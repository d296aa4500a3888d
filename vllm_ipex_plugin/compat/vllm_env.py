"""vLLM's own environment variables that the plugin's platform reads or sets.

Manifest entries ``worker-multiproc-method`` and ``v1-multiprocessing`` (``compat/__init__.py``).
They are vLLM's variables (``vllm/envs.py``), not the plugin's: the plugin's own live in
``vllm_ipex_plugin/envs.py``.
"""

from __future__ import annotations

import os

WORKER_MULTIPROC_METHOD = "VLLM_WORKER_MULTIPROC_METHOD"
ENABLE_V1_MULTIPROCESSING = "VLLM_ENABLE_V1_MULTIPROCESSING"


def prefer_spawned_workers() -> None:
    """Start vLLM's worker processes with ``spawn`` unless the user chose a method.

    A forked child cannot re-initialise the Level Zero (or OpenMP) runtime.
    """
    os.environ.setdefault(WORKER_MULTIPROC_METHOD, "spawn")


def force_spawned_workers() -> None:
    """Start vLLM's worker processes with ``spawn``, whatever was set (host mode)."""
    os.environ[WORKER_MULTIPROC_METHOD] = "spawn"


def engine_core_in_own_process() -> bool:
    """vLLM's ``VLLM_ENABLE_V1_MULTIPROCESSING`` as the host platform reads it (unset = on)."""
    return os.environ.get(ENABLE_V1_MULTIPROCESSING, "1") == "1"
