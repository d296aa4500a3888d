"""The host-mode worker: vLLM's CPU worker serving the plugin's own platform.

vLLM's CPU worker already runs its GPU model runner on the CPU (placeholders for
streams and events, CPU memory accounting). Host mode reuses it unchanged so that
the plugin's platform, attention backend, quantization method and communicator run
through the same engine code as on an Intel GPU.
"""

from __future__ import annotations

from vllm.distributed import get_pp_group
from vllm.v1.worker.cpu_worker import CPUWorker

from vllm_ipex_plugin.worker.memory_pools import NoSleepModePools


class HostWorker(NoSleepModePools, CPUWorker):
    """vLLM's CPU worker under the plugin's host-mode platform."""

    def compile_or_warm_up_model(self):
        # Later pipeline stages receive their inputs in buffers that vLLM's model runner
        # allocates during its warm-up forward pass. The CPU worker skips that pass in
        # eager mode when the KV cache size is given (host mode always gives one), so a
        # second stage would find no buffer and fail its first step; allocate it the way
        # the runner's own warm-up does.
        runner = self.model_runner
        if not get_pp_group().is_first_rank and runner.intermediate_tensors is None:
            runner.intermediate_tensors = runner.model.make_empty_intermediate_tensors(
                batch_size=runner.max_num_tokens, dtype=runner.model_config.dtype, device=runner.device
            )
        return super().compile_or_warm_up_model()
