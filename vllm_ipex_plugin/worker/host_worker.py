"""The host-mode worker: vLLM's CPU worker serving the plugin's own platform.

vLLM's CPU worker already runs its GPU model runner on the CPU (placeholders for
streams and events, CPU memory accounting). Host mode reuses it unchanged so that
the plugin's platform, attention backend, quantization method and communicator run
through the same engine code as on an Intel GPU.
"""

from __future__ import annotations

from vllm.distributed import get_pp_group
from vllm.v1.worker.cpu_worker import CPUWorker

from vllm_ipex_plugin.compat.gpu_worker import NoSleepModePools
from vllm_ipex_plugin.compat.model_runner import ensure_intermediate_tensors


class HostWorker(NoSleepModePools, CPUWorker):
    """vLLM's CPU worker under the plugin's host-mode platform."""

    def compile_or_warm_up_model(self):
        # Later pipeline stages receive their inputs in buffers that vLLM's model runner
        # allocates during a warm-up pass the CPU worker skips here (compat/model_runner.py).
        if not get_pp_group().is_first_rank:
            ensure_intermediate_tensors(self.model_runner)
        return super().compile_or_warm_up_model()
