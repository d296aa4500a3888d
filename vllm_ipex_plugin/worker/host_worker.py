"""The host-mode worker: vLLM's CPU worker serving the plugin's own platform.

vLLM's CPU worker already runs its GPU model runner on the CPU (placeholders for
streams and events, CPU memory accounting). Host mode reuses it unchanged so that
the plugin's platform, attention backend, quantization method and communicator run
through the same engine code as on an Intel GPU.
"""

from __future__ import annotations

from vllm.distributed import get_pp_group
from vllm.v1.worker.cpu_worker import CPUWorker

from vllm_ipex_plugin import envs
from vllm_ipex_plugin.compat.gpu_worker import NoSleepModePools
from vllm_ipex_plugin.compat.model_runner import ensure_intermediate_tensors
from vllm_ipex_plugin.worker.heap_at_exit import FrozenHeapAtExit


class HostWorker(FrozenHeapAtExit, NoSleepModePools, CPUWorker):
    """vLLM's CPU worker under the plugin's host-mode platform."""

    def compile_or_warm_up_model(self):
        # Later pipeline stages receive their inputs in buffers that vLLM's model runner
        # allocates during a warm-up pass the CPU worker skips here (compat/model_runner.py).
        if not get_pp_group().is_first_rank:
            ensure_intermediate_tensors(self.model_runner)
        return super().compile_or_warm_up_model()

    def determine_available_memory(self) -> int:
        available = super().determine_available_memory()
        check_kv_cache_holds_one_sequence(self.vllm_config, self.get_kv_cache_spec().values(), available)
        return available


def check_kv_cache_holds_one_sequence(vllm_config, kv_cache_specs, available: int) -> None:
    """Refuse a KV cache smaller than one ``max_model_len`` sequence with host mode's own advice.

    vLLM's own check says to raise ``gpu_memory_utilization``, which does not size the cache
    in host mode: ``--kv-cache-memory-bytes`` or ``IPEX_PLUGIN_HOST_KV_CACHE_GIB`` do."""
    needed = sum(spec.max_memory_usage_bytes(vllm_config) for spec in kv_cache_specs)
    if not needed or available >= needed:
        return
    max_len = vllm_config.model_config.max_model_len
    gib = 1 << 30
    raise ValueError(
        f"vllm_ipex_plugin: the KV cache ({available / gib:.3f} GiB) holds about {available * max_len // needed} "
        f"tokens, but one sequence of max_model_len={max_len} needs {needed / gib:.3f} GiB. In host mode the "
        f"cache size is --kv-cache-memory-bytes or {envs.HOST_KV_CACHE_GIB} (default "
        f"{envs.VARIABLES[envs.HOST_KV_CACHE_GIB].default} GiB): raise it, or lower --max-model-len."
    )

