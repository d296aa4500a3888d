"""vLLM's ``XpuCommunicator``, the base class of the plugin's device communicator.

Manifest entry ``xpu-communicator`` (``compat/__init__.py``): the plugin subclasses it and
relies on its constructor's keyword arguments, the ``device_group`` / ``world_size`` /
``rank_in_group`` attributes its base class sets, and ``all_gather`` / ``reduce_scatter``.
"""

from __future__ import annotations

from vllm.distributed.device_communicators.xpu_communicator import (
    XpuCommunicator as VllmXpuCommunicator,
)

__all__ = ["VllmXpuCommunicator"]
