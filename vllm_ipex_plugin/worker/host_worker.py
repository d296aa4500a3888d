"""The host-mode worker: vLLM's CPU worker serving the plugin's own platform.

vLLM's CPU worker already runs its GPU model runner on the CPU (placeholders for
streams and events, CPU memory accounting). Host mode reuses it unchanged so that
the plugin's platform, attention backend, quantization method and communicator run
through the same engine code as on an Intel GPU.
"""

from __future__ import annotations

from vllm.v1.worker.cpu_worker import CPUWorker

from vllm_ipex_plugin.worker.memory_pools import NoSleepModePools


class HostWorker(NoSleepModePools, CPUWorker):
    """vLLM's CPU worker under the plugin's host-mode platform."""
