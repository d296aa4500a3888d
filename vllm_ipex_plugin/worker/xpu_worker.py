"""The Intel GPU worker: vLLM's GPU ``Worker`` with an XPU ``init_device``.

vLLM's own ``XPUWorker`` asserts ``current_platform.is_xpu()``, which an out-of-tree
platform is not, so the device set-up is mirrored here (without the vllm-xpu-kernels
memory hooks, which stock ``torch.xpu`` replaces). vLLM's private ``Worker`` hooks are
reached through ``compat/gpu_worker.py``.
"""

from __future__ import annotations

import gc
import os

import torch
from vllm.platforms import current_platform
from vllm.utils.torch_utils import set_random_seed
from vllm.v1.worker.gpu_worker import Worker

from vllm_ipex_plugin.compat.gpu_worker import (
    NoSleepModePools,
    OwnModelRunner,
    build_workspace_and_model_runner,
    init_worker_distributed_environment,
    take_init_memory_snapshot,
)
from vllm_ipex_plugin.distributed.ccl_presets import apply_ccl_presets
from vllm_ipex_plugin.log import get_logger
from vllm_ipex_plugin.worker.heap_at_exit import FrozenHeapAtExit
from vllm_ipex_plugin.worker.model_runner import XpuModelRunner, make_v2_runner

logger = get_logger(__name__)


class XpuWorker(FrozenHeapAtExit, NoSleepModePools, OwnModelRunner, Worker):
    def init_device(self) -> None:
        visible_index = current_platform.logical_device_id_to_visible_device_id(self.local_rank)
        self.device = torch.device(f"xpu:{visible_index}")
        torch.accelerator.set_device_index(self.device)
        current_platform.check_if_supports_dtype(self.model_config.dtype)
        torch.accelerator.empty_cache()
        self.init_gpu_memory = torch.xpu.get_device_properties(visible_index).total_memory

        # oneCCL reads these; keep user values. Ray actors do not inherit the presets the
        # platform set in the API server's environment.
        apply_ccl_presets(os.environ, single_host=self.parallel_config.nnodes == 1)
        os.environ.setdefault("LOCAL_WORLD_SIZE", str(self.parallel_config.world_size))
        os.environ["LOCAL_RANK"] = str(self.local_rank)

        init_worker_distributed_environment(
            self.vllm_config,
            self.rank,
            self.distributed_init_method,
            self.local_rank,
            current_platform.dist_backend,
        )
        if self.parallel_config.world_size > 1:
            # Warm oneCCL up so the first real all-reduce does not time out.
            torch.distributed.all_reduce(torch.zeros(1, device=self.device))

        set_random_seed(self.model_config.seed)
        gc.collect()
        torch.accelerator.empty_cache()
        take_init_memory_snapshot(self)
        build_workspace_and_model_runner(self)

    def make_model_runner(self):
        if self.use_v2_model_runner:
            return make_v2_runner(self.vllm_config, self.device)
        return XpuModelRunner(self.vllm_config, self.device)
