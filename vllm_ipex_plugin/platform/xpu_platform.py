"""The plugin's vLLM platform: Intel GPUs (XPU), and the same code on the CPU in host mode.

``XpuPlatform`` drives an Intel GPU through stock PyTorch XPU (``torch.xpu``, the ``xccl``
distributed backend). ``XpuHostPlatform`` is the same class with the CPU's device
constants: it runs the plugin's worker, attention backend, quantization method and
communicator on the CPU with torch reference kernels, which is how CI and developers
run the whole product without an Intel GPU.

``_enum`` is ``OOT``: vLLM's own XPU code paths (``is_xpu()``) assume the
``vllm-xpu-kernels`` binaries, which this plugin treats as optional.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import torch
from vllm.platforms.interface import Platform, PlatformEnum

from vllm_ipex_plugin import envs
from vllm_ipex_plugin.attention import BACKEND_NAME, BACKEND_PATH, register_attention_backend
from vllm_ipex_plugin.compat import cpu_platform, vllm_env
from vllm_ipex_plugin.distributed.ccl_presets import apply_ccl_presets
from vllm_ipex_plugin.log import get_logger
from vllm_ipex_plugin.platform import device_rules
from vllm_ipex_plugin.platform.checkpoint_files import CheckpointFileError, check_checkpoint_folder
from vllm_ipex_plugin.platform.device_selection import VisibleCards, check_ranks_fit, visible_cards

if TYPE_CHECKING:
    from vllm.config import VllmConfig
    from vllm.utils.argparse_utils import FlexibleArgumentParser
    from vllm.v1.attention.backends.registry import AttentionBackendEnum
    from vllm.v1.attention.selector import AttentionSelectorConfig

logger = get_logger(__name__)

# Overrides live in per-process dicts: register wherever the platform module loads.
register_attention_backend()

_TRITON_ATTN_PATH = "vllm.v1.attention.backends.triton_attn.TritonAttentionBackend"


class XpuPlatform(Platform):
    _enum = PlatformEnum.OOT
    device_name: str = "xpu"
    device_type: str = "xpu"
    dispatch_key: str = "XPU"
    ray_device_key: str = "GPU"
    dist_backend: str = "xccl"
    device_control_env_var: str = "ZE_AFFINITY_MASK"
    # Empty: every quantization method is allowed; ours registers itself.
    supported_quantization: list[str] = []

    worker_cls = "vllm_ipex_plugin.worker.xpu_worker.XpuWorker"
    communicator_cls = "vllm_ipex_plugin.distributed.communicator.XpuCommunicator"
    punica_wrapper_cls = "vllm.lora.punica_wrapper.punica_gpu.PunicaWrapperGPU"

    # ----- identity and device -----------------------------------------------------------
    @classmethod
    def is_host_mode(cls) -> bool:
        return False

    @property
    def supported_dtypes(self) -> list[torch.dtype]:
        return device_rules.supported_dtypes(self.get_device_name())

    @classmethod
    def get_device_name(cls, device_id: int = 0) -> str:
        return torch.xpu.get_device_name(device_id)

    @classmethod
    def get_device_total_memory(cls, device_id: int = 0) -> int:
        return torch.xpu.get_device_properties(device_id).total_memory

    @classmethod
    def device_count(cls) -> int:
        return torch.xpu.device_count()

    @classmethod
    def get_device_capability(cls, device_id: int = 0):
        # None skips CUDA compute-capability checks (quantization min capability).
        return None

    @classmethod
    def set_device(cls, device: torch.device) -> None:
        torch.xpu.set_device(device)

    @classmethod
    def manual_seed_all(cls, seed: int) -> None:
        torch.xpu.manual_seed_all(seed)

    @classmethod
    def inference_mode(cls):
        # torch.inference_mode tensors cannot be updated in place later (KV cache
        # reuse, weight reloads); vLLM's own XPU and CPU platforms use no_grad too.
        return torch.no_grad()

    @classmethod
    def is_pin_memory_available(cls) -> bool:
        return True

    @classmethod
    def get_current_memory_usage(cls, device: torch.types.Device | None = None) -> float:
        torch.xpu.empty_cache()
        torch.xpu.reset_peak_memory_stats(device)
        return torch.xpu.max_memory_allocated(device)

    @classmethod
    def check_if_supports_dtype(cls, dtype: torch.dtype) -> None:
        device_rules.check_dtype(dtype, cls.get_device_name())

    @classmethod
    def import_kernels(cls) -> None:
        # vllm._C of a CPU or CUDA wheel does not load on XPU; vllm-xpu-kernels is an
        # optional fast path, never a requirement.
        try:
            import vllm_xpu_kernels._C  # noqa: F401
        except ImportError:
            logger.debug("vllm-xpu-kernels not installed; using the plugin's own kernels")

    # ----- components ----------------------------------------------------------------------
    @classmethod
    def get_attn_backend_cls(
        cls,
        selected_backend: AttentionBackendEnum | None,
        attn_selector_config: AttentionSelectorConfig,
        num_heads: int | None = None,
    ) -> str:
        if attn_selector_config.use_mla or attn_selector_config.use_sparse:
            raise ValueError(
                "vllm_ipex_plugin: MLA / sparse attention models are not supported yet; "
                "use a model with standard (GQA/MHA) attention."
            )
        name = getattr(selected_backend, "name", None)
        if name is None or name == BACKEND_NAME:
            return BACKEND_PATH
        if name == "TRITON_ATTN":
            if not cls.is_host_mode():
                return _TRITON_ATTN_PATH
            # vLLM's Triton backend cannot run on the CPU; a model config may pick it by itself
            # (Gemma4's mixed head sizes), so host mode runs the plugin's backend instead.
            logger.info_once("vllm_ipex_plugin: TRITON_ATTN cannot run on the CPU; host mode uses %s.", BACKEND_NAME)
            return BACKEND_PATH
        allowed = BACKEND_NAME if cls.is_host_mode() else f"{BACKEND_NAME} or TRITON_ATTN"
        raise ValueError(
            f"vllm_ipex_plugin: attention backend {name} is not available on "
            f"{cls.device_name}; use {allowed} (or leave --attention-backend unset)."
        )

    @classmethod
    def get_supported_vit_attn_backends(cls) -> list[AttentionBackendEnum]:
        """Vision towers' attention: torch SDPA everywhere (PyTorch XPU's on an Intel GPU, any
        card including Arc A-series); ``vllm-xpu-kernels``' flash attention on an Intel GPU where
        that optional package is installed, when asked for (``--mm-encoder-attn-backend FLASH_ATTN``)."""
        from vllm.v1.attention.backends.registry import AttentionBackendEnum

        from vllm_ipex_plugin.attention.providers import xpu_kernels_installed

        supported = [AttentionBackendEnum.TORCH_SDPA]
        if not cls.is_host_mode() and xpu_kernels_installed():
            supported.append(AttentionBackendEnum.FLASH_ATTN)
        return supported

    @classmethod
    def get_vit_attn_backend(cls, head_size: int, dtype: torch.dtype,
                             backend: AttentionBackendEnum | None = None) -> AttentionBackendEnum:
        """``backend`` if this platform runs it (a readable error otherwise), else torch SDPA: the
        one vision attention that runs on every Intel card and in host mode, and the one the
        tests run."""
        supported = cls.get_supported_vit_attn_backends()
        if backend is None:
            return supported[0]
        if backend not in supported:
            raise ValueError(
                f"vllm_ipex_plugin: vision attention backend {backend.name} is not available on "
                f"{cls.device_name}; use {' or '.join(b.name for b in supported)} "
                "(or leave --mm-encoder-attn-backend unset)."
            )
        return backend

    @classmethod
    def get_device_communicator_cls(cls) -> str:
        return cls.communicator_cls

    @classmethod
    def get_punica_wrapper(cls) -> str:
        return cls.punica_wrapper_cls

    @classmethod
    def opaque_attention_op(cls) -> bool:
        return True

    @classmethod
    def support_static_graph_mode(cls) -> bool:
        # XPU graphs have not been validated on Intel hardware by this project yet.
        return False

    @classmethod
    def check_runner_kv_caches_multi_layer(cls) -> None:
        return None

    # ----- configuration -------------------------------------------------------------------
    @classmethod
    def pre_register_and_update(cls, parser: FlexibleArgumentParser | None = None) -> None:
        if parser is not None:
            from vllm_ipex_plugin.platform.cli import add_ipex_llm_arguments

            add_ipex_llm_arguments(parser)

    @classmethod
    def visible_cards(cls, assigned_ids: list[int] | None) -> VisibleCards | None:
        return visible_cards(False, assigned_ids, cls.device_count())

    @classmethod
    def configure_collectives(cls, parallel_config) -> None:
        """A bounded wait for peers (a stuck rank becomes an error) and oneCCL's defaults.

        The environment is set here, in the process that starts the workers, so every
        worker inherits it (the XPU worker applies the presets again for Ray actors). Host
        mode's gloo gets the bounded wait only: oneCCL's variables mean nothing to it."""
        timeout = envs.collective_timeout_s()
        if parallel_config.distributed_timeout_seconds is None:
            parallel_config.distributed_timeout_seconds = timeout
        if parallel_config.cpu_distributed_timeout_seconds is None:
            parallel_config.cpu_distributed_timeout_seconds = timeout
        if cls.dist_backend == "xccl":
            applied = apply_ccl_presets(os.environ, single_host=parallel_config.nnodes == 1)
            if applied:
                logger.info("oneCCL defaults set (variables the user set are kept): %s", ", ".join(applied))

    @classmethod
    def check_and_update_config(cls, vllm_config: VllmConfig) -> None:
        model_config = vllm_config.model_config
        if model_config is not None:
            # 'auto' already fell back to fp16 on cards without bf16 (supported_dtypes);
            # a bf16 still here was forced by the user.
            cls.check_if_supports_dtype(model_config.dtype)

        parallel_config = vllm_config.parallel_config
        if parallel_config.worker_cls == "auto":
            parallel_config.worker_cls = cls.worker_cls
        try:
            check_ranks_fit(parallel_config, cls.visible_cards(parallel_config.assigned_physical_gpu_ids))
            cls.configure_collectives(parallel_config)
        except ValueError as exc:
            raise SystemExit(f"vllm_ipex_plugin: {exc}") from None
        # A forked child cannot re-initialise the Level Zero (or OpenMP) runtime.
        vllm_env.prefer_spawned_workers()

        if vllm_config.compilation_config.compile_sizes is None:
            vllm_config.compilation_config.compile_sizes = []
        if getattr(vllm_config, "shutdown_timeout", None) == 0:
            # vLLM's --shutdown-timeout is both how long in-flight requests drain after SIGTERM and
            # the window its process managers give the engine core and workers before SIGKILL; at
            # 0 (vLLM's default) they are killed at once, before oneCCL and Level Zero release the
            # card (vLLM keeps a grace window on ROCm for the same reason). 5 s: requests drain up
            # to 5 s, and the processes end by themselves.
            vllm_config.shutdown_timeout = 5
        from vllm_ipex_plugin.quantization.selection import apply_low_bit_choice

        apply_low_bit_choice(vllm_config)
        if model_config is not None:
            try:
                check_checkpoint_folder(model_config.model)
            except CheckpointFileError as exc:
                # in the worker this is a long traceback after start-up; here, one line
                raise SystemExit(f"vllm_ipex_plugin: {exc}") from None


HOST_MODE_RAY_MESSAGE = (
    "vllm_ipex_plugin: --distributed-executor-backend ray needs Intel GPUs (Ray schedules vLLM's workers on "
    "its GPU resources); host mode runs on the CPU, where vLLM has no Ray device: use the default mp backend."
)


class XpuHostPlatform(XpuPlatform):
    """The plugin's platform on the CPU: host mode (development and CI)."""

    device_name: str = "cpu"
    device_type: str = "cpu"
    dispatch_key: str = "CPU"
    ray_device_key: str = ""
    dist_backend: str = "gloo"
    device_control_env_var: str = envs.HOST_DEVICES

    worker_cls = "vllm_ipex_plugin.worker.host_worker.HostWorker"
    punica_wrapper_cls = "vllm_ipex_plugin.compat.punica_host.HostPunicaWrapper"

    @classmethod
    def is_host_mode(cls) -> bool:
        return True

    @classmethod
    def visible_cards(cls, assigned_ids: list[int] | None) -> VisibleCards | None:
        return visible_cards(True, assigned_ids)

    @property
    def supported_dtypes(self) -> list[torch.dtype]:
        # float32 first: a float32 checkpoint stays float32 under --dtype auto (host mode
        # is for correctness; CPUs without bf16 units gain nothing from bf16 either).
        return [torch.float32, torch.bfloat16, torch.float16]

    @classmethod
    def get_device_name(cls, device_id: int = 0) -> str:
        return "host CPU (vllm_ipex_plugin host mode)"

    @classmethod
    def get_device_total_memory(cls, device_id: int = 0) -> int:
        import psutil

        return psutil.virtual_memory().total

    @classmethod
    def device_count(cls) -> int:
        return 1

    @classmethod
    def set_device(cls, device: torch.device) -> None:
        return None

    @classmethod
    def manual_seed_all(cls, seed: int) -> None:
        return None

    @classmethod
    def is_pin_memory_available(cls) -> bool:
        return False

    @classmethod
    def get_current_memory_usage(cls, device: torch.types.Device | None = None) -> float:
        import psutil

        return float(psutil.Process().memory_info().rss)

    @classmethod
    def register_triton_kernel_overrides(cls) -> None:
        # Without a Triton CPU backend, vLLM's core Triton helpers (slot mapping,
        # rejection sampling) need the C++ fallbacks vLLM's CPU platform registers.
        cpu_platform.register_cpu_triton_kernel_overrides()

    @classmethod
    def import_kernels(cls) -> None:
        # The CPU wheel ships one kernel library per ISA; vLLM's CPU platform loads the
        # one this CPU runs (vllm._C directly dies with SIGILL without AVX-512).
        cpu_platform.import_cpu_kernels()

    @classmethod
    def check_and_update_config(cls, vllm_config: VllmConfig) -> None:
        if vllm_config.parallel_config.distributed_executor_backend == "ray":
            # vLLM's Ray executor places workers on Ray's accelerator resources; the CPU has none
            # (vLLM's own CPU platform refuses Ray too), so say so now instead of a traceback from
            # the engine core.
            raise SystemExit(HOST_MODE_RAY_MESSAGE)
        super().check_and_update_config(vllm_config)
        from vllm.config import CompilationMode

        cache_config = vllm_config.cache_config
        if cache_config.kv_cache_memory_bytes is None:
            # No device memory to budget: a fixed, documented KV cache size.
            cache_config.kv_cache_memory_bytes = envs.host_kv_cache_bytes()
        # Host mode exists for correctness, not speed: eager, no graphs, no async
        # scheduling (the CPU has no streams to overlap).
        compilation_config = vllm_config.compilation_config
        compilation_config.mode = CompilationMode.NONE
        compilation_config.cudagraph_capture_sizes = []
        vllm_config.scheduler_config.async_scheduling = False
        parallel_config = vllm_config.parallel_config
        if vllm_env.engine_core_in_own_process() and parallel_config.distributed_executor_backend == "uni":
            # vLLM's CPU worker binds OpenMP threads per process; like vLLM's CPU
            # platform, run it in a worker process of its own.
            parallel_config.distributed_executor_backend = "mp"
        vllm_env.force_spawned_workers()
