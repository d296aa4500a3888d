"""Every place the plugin touches a vLLM or torch internal, and the manifest that lists them.

A vLLM internal is anything the plugin relies on that vLLM does not offer to plugins: a private
name (``_make_model_runner``), a module-level rebinding (``torch.cuda.Stream = ...``), an
attribute another class fills in (``model_runner.intermediate_tensors``), vLLM's own
environment variables, or a base class the plugin subclasses without a stated contract. The
plugin's public extension points (``Platform`` hooks, ``register_backend``,
``register_quantization_config``, ``LinearMethodBase``, ...) are not listed.

The code that touches each internal lives in a small module here, named for what it bridges;
``platform/``, ``worker/`` and ``distributed/`` call it. ``compat`` imports only vLLM, torch and
the standard library, never the plugin; this file imports only the standard library, so the
manifest can be read without vLLM. Two entries are kept where they are used, in
``attention/backend.py``, and listed here all the same: ``preferred-block-size`` (it overrides a
public backend hook that a private platform method calls) and ``mm-prefix-range-cleared`` (a
metadata attribute the model clears).

``tests/contract/test_vllm_contract.py`` runs every entry's ``checks`` against the installed
vLLM and torch, so a vLLM bump that renames or re-signs a touched symbol fails there, with the
symbol's name, instead of deep inside a run. Each entry says, in the style of vllm-ascend's
``patch/__init__.py``:

- ``symbol``: what is touched, and how (``kind``);
- ``why``: what breaks without it;
- ``upstream``: the vLLM / PyTorch issue or PR that would make it unnecessary, or ``none``;
- ``remove_when``: the condition under which the entry and its code can go;
- ``where``: the module holding the code, and ``used_by``: the plugin modules calling it.

Check targets are ``"module:Qualified.name"``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Signature:
    """``target`` exists and ``inspect.signature(target)`` has exactly these parameter names."""

    target: str
    params: tuple[str, ...]


@dataclass(frozen=True)
class Exists:
    """``target`` resolves (a module attribute, class attribute or method)."""

    target: str


@dataclass(frozen=True)
class AssignsAttribute:
    """The function ``target`` assigns ``self.<attribute>`` (an instance attribute the plugin reads)."""

    target: str
    attribute: str


@dataclass(frozen=True)
class VllmEnvVar:
    """vLLM still defines the environment variable ``name`` (``vllm.envs.environment_variables``)."""

    name: str


@dataclass(frozen=True)
class SourceContains:
    """The source of ``target`` still contains ``text`` (a name vLLM builds, such as a process name)."""

    target: str
    text: str


Check = Signature | Exists | AssignsAttribute | VllmEnvVar | SourceContains


@dataclass(frozen=True)
class Touch:
    key: str
    symbol: str
    kind: str  # rebinding | private call | private override | private attribute | vLLM env | subclass | delegation
    why: str
    upstream: str
    remove_when: str
    where: str
    used_by: tuple[str, ...]
    checks: tuple[Check, ...]


_GPU_WORKER = "vllm.v1.worker.gpu_worker:Worker"
_CUDA_NAMES = (
    "Stream", "default_stream", "current_stream", "stream", "set_stream", "Event",
    "graph", "CUDAGraph", "graph_pool_handle", "is_current_stream_capturing",
)
_XPU_NAMES = ("Stream", "current_stream", "stream", "set_stream", "Event")

MANIFEST: tuple[Touch, ...] = (
    Touch(
        key="torch-cuda-alias",
        symbol="torch.cuda.{" + ", ".join(_CUDA_NAMES) + "} rebound to torch.xpu",
        kind="rebinding",
        why="vLLM's GPUModelRunner (V1 and V2), which the XPU worker reuses, calls torch.cuda stream, "
        "event and graph APIs directly; vLLM's own XPU runner rebinds them the same way "
        "(vllm/v1/worker/xpu_model_runner.py _torch_cuda_wrapper). Process-wide, never restored.",
        upstream="vllm-project/vllm#30679 (RFC: torch.cuda -> torch.accelerator); vllm-project/vllm#58082 "
        "(open: device-agnostic streams and events in the V2 runner)",
        remove_when="vLLM's GPU runners create streams/events through torch.Stream / torch.Event / "
        "torch.accelerator and capture graphs through the platform",
        where="vllm_ipex_plugin/compat/torch_cuda_alias.py",
        used_by=("vllm_ipex_plugin/worker/model_runner.py",),
        checks=(
            *(Exists(f"torch.cuda:{name}") for name in _CUDA_NAMES),
            *(Exists(f"torch.xpu:{name}") for name in _XPU_NAMES),
            Signature("vllm.v1.worker.gpu_model_runner:GPUModelRunner.__init__", ("self", "vllm_config", "device")),
            Signature("vllm.v1.worker.gpu.model_runner:GPUModelRunner.__init__", ("self", "vllm_config", "device")),
        ),
    ),
    Touch(
        key="accelerator-noops",
        symbol="vllm.v1.worker.cpu_model_runner._set_torch_accelerator_to_noop (private call)",
        kind="private call",
        why="host mode: vLLM calls torch.accelerator.synchronize / empty_cache (engine core at shutdown, "
        "the GPU runner) on a machine with no accelerator, where they raise; vLLM's CPU runner makes "
        "them no-ops with this helper and the engine-core process needs the same",
        upstream="none (the helper came with vllm-project/vllm#41034, the CPU runner's shutdown fix)",
        remove_when="vLLM routes these calls through a platform hook, or torch.accelerator stops raising "
        "when no accelerator is present",
        where="vllm_ipex_plugin/compat/host_accelerator.py",
        used_by=("vllm_ipex_plugin/__init__.py",),
        checks=(
            Signature("vllm.v1.worker.cpu_model_runner:_set_torch_accelerator_to_noop", ()),
            Exists("torch.accelerator:synchronize"),
            Exists("torch.accelerator:empty_cache"),
        ),
    ),
    Touch(
        key="empty-host-cache",
        symbol="torch.accelerator.empty_host_cache replaced by a no-op (host mode)",
        kind="rebinding",
        why="vllm.distributed.parallel_state.cleanup_dist_env_and_memory calls it right after empty_cache "
        "for every platform that is not vLLM's own CPU platform; it raises without an accelerator",
        upstream="none (the call came with vllm-project/vllm#51107)",
        remove_when="cleanup_dist_env_and_memory asks the platform instead of current_platform.is_cpu()",
        where="vllm_ipex_plugin/compat/host_accelerator.py",
        used_by=("vllm_ipex_plugin/__init__.py",),
        checks=(
            Exists("torch.accelerator:empty_host_cache"),
            Exists("vllm.distributed.parallel_state:cleanup_dist_env_and_memory"),
        ),
    ),
    Touch(
        key="memory-pool-context",
        symbol="vllm.v1.worker.gpu_worker.Worker._maybe_get_memory_pool_context (private override)",
        kind="private override",
        why="vLLM's worker asks for a sleep-mode allocator on any platform that is not CUDA, XPU or CPU; "
        "the plugin's platform has none, so every pool context is a no-op",
        upstream="none",
        remove_when="the plugin supports sleep mode, or vLLM's Worker returns nullcontext for platforms "
        "without a sleep-mode allocator",
        where="vllm_ipex_plugin/compat/gpu_worker.py",
        used_by=("vllm_ipex_plugin/worker/xpu_worker.py", "vllm_ipex_plugin/worker/host_worker.py"),
        checks=(Signature(f"{_GPU_WORKER}._maybe_get_memory_pool_context", ("self", "tag")),),
    ),
    Touch(
        key="make-model-runner",
        symbol="vllm.v1.worker.gpu_worker.Worker._make_model_runner (private override)",
        kind="private override",
        why="the XPU worker builds vLLM's V1 / V2 GPU runners under the torch.cuda -> torch.xpu alias",
        upstream="none",
        remove_when="vLLM offers a public platform hook naming the model runner class",
        where="vllm_ipex_plugin/compat/gpu_worker.py",
        used_by=("vllm_ipex_plugin/worker/xpu_worker.py",),
        checks=(
            Signature(f"{_GPU_WORKER}._make_model_runner", ("self",)),
            AssignsAttribute(f"{_GPU_WORKER}.__init__", "use_v2_model_runner"),
        ),
    ),
    Touch(
        key="workspace-and-runner",
        symbol="vllm.v1.worker.gpu_worker.Worker._init_workspace_and_model_runner (private call)",
        kind="private call",
        why="the XPU worker's own init_device ends the way vLLM's does: workspace manager, then the "
        "model runner (through _make_model_runner)",
        upstream="none",
        remove_when="vLLM's Worker.init_device accepts non-CUDA device types (see init-device-mirror)",
        where="vllm_ipex_plugin/compat/gpu_worker.py",
        used_by=("vllm_ipex_plugin/worker/xpu_worker.py",),
        checks=(Signature(f"{_GPU_WORKER}._init_workspace_and_model_runner", ("self",)),),
    ),
    Touch(
        key="init-device-mirror",
        symbol="vllm.v1.worker.gpu_worker.Worker.init_device replaced by a mirror of vLLM's XPUWorker.init_device",
        kind="private attribute",
        why="Worker.init_device only takes device type cuda and vLLM's XPUWorker asserts is_xpu(), which an "
        "out-of-tree platform is not; the mirror must set what the rest of Worker reads (init_snapshot, "
        "requested_memory) with vLLM's helpers",
        upstream="none",
        remove_when="vLLM's XPUWorker (or Worker.init_device) accepts an out-of-tree XPU platform",
        where="vllm_ipex_plugin/compat/gpu_worker.py",
        used_by=("vllm_ipex_plugin/worker/xpu_worker.py",),
        checks=(
            Signature(f"{_GPU_WORKER}.init_device", ("self",)),
            AssignsAttribute(f"{_GPU_WORKER}.init_device", "init_snapshot"),
            AssignsAttribute(f"{_GPU_WORKER}.init_device", "requested_memory"),
            Signature(
                "vllm.v1.worker.gpu_worker:init_worker_distributed_environment",
                ("vllm_config", "rank", "distributed_init_method", "local_rank", "backend"),
            ),
            Signature(
                "vllm.v1.worker.utils:request_memory", ("init_snapshot", "cache_config", "external_weight_memory")
            ),
            Exists("vllm.utils.mem_utils:MemorySnapshot.device"),
        ),
    ),
    Touch(
        key="intermediate-tensors",
        symbol="vllm.v1.worker.gpu_model_runner.GPUModelRunner.intermediate_tensors (filled in by the host worker)",
        kind="private attribute",
        why="vLLM's CPU worker skips the warm-up pass that allocates a later pipeline stage's input buffers "
        "when the KV cache size is given (host mode always gives one); PP stage 2 would fail its first step",
        upstream="none",
        remove_when="vLLM's CPU worker allocates the buffers itself when it skips the warm-up",
        where="vllm_ipex_plugin/compat/model_runner.py",
        used_by=("vllm_ipex_plugin/worker/host_worker.py",),
        checks=(
            AssignsAttribute("vllm.v1.worker.gpu_model_runner:GPUModelRunner.__init__", "intermediate_tensors"),
            AssignsAttribute("vllm.v1.worker.gpu_model_runner:GPUModelRunner.__init__", "max_num_tokens"),
            Signature(
                "vllm.model_executor.models.interfaces:_MakeEmptyIntermediateTensors.__call__",
                ("self", "batch_size", "dtype", "device"),
            ),
            Signature("vllm.v1.worker.cpu_worker:CPUWorker.compile_or_warm_up_model", ("self",)),
        ),
    ),
    Touch(
        key="argparse-option-table",
        symbol="argparse.ArgumentParser._option_string_actions (private attribute read)",
        kind="private attribute",
        why="--device and --load-in-low-bit are added to vllm serve's parser only where vLLM does not define "
        "them; argparse has no public lookup of a defined option",
        upstream="none",
        remove_when="the plugin drops IPEX-LLM's command-line spellings",
        where="vllm_ipex_plugin/compat/argparse_options.py",
        used_by=("vllm_ipex_plugin/platform/cli.py",),
        checks=(AssignsAttribute("argparse:_ActionsContainer.__init__", "_option_string_actions"),),
    ),
    Touch(
        key="worker-multiproc-method",
        symbol="VLLM_WORKER_MULTIPROC_METHOD set to spawn (vLLM's environment variable)",
        kind="vLLM env",
        why="a forked worker cannot re-initialise Level Zero (or OpenMP); vLLM forces spawn only once CUDA "
        "or XPU is initialised, which an out-of-tree platform's parent process is not",
        upstream="none",
        remove_when="vLLM's worker start-up asks the platform for the start method",
        where="vllm_ipex_plugin/compat/vllm_env.py",
        used_by=("vllm_ipex_plugin/platform/xpu_platform.py",),
        checks=(VllmEnvVar("VLLM_WORKER_MULTIPROC_METHOD"), Exists("vllm.utils.system_utils:get_mp_context")),
    ),
    Touch(
        key="v1-multiprocessing",
        symbol="VLLM_ENABLE_V1_MULTIPROCESSING read (vLLM's environment variable)",
        kind="vLLM env",
        why="host mode runs a single rank in a worker process of its own (vLLM's CPU worker binds OpenMP "
        "threads per process), as vLLM's CPU platform does, unless the engine core runs in-process",
        upstream="none",
        remove_when="the host platform takes this decision from vLLM's CPU platform",
        where="vllm_ipex_plugin/compat/vllm_env.py",
        used_by=("vllm_ipex_plugin/platform/xpu_platform.py",),
        checks=(VllmEnvVar("VLLM_ENABLE_V1_MULTIPROCESSING"),),
    ),
    Touch(
        key="punica-cpu-no-lora-rows",
        symbol="vllm.lora.punica_wrapper.punica_cpu.PunicaWrapperCPU (subclassed: _shrink_prefill, _shrink_decode "
        "overridden, add_lora_logits re-implemented with vllm.lora.ops.torch_ops)",
        kind="private override",
        why="vLLM's CPU punica ops index the stacked adapters with slot -1 for requests without an adapter, which "
        "reads the last adapter: in host mode a batch mixing adapter and plain requests gave the plain ones the "
        "last adapter's output",
        upstream="none",
        remove_when="vLLM's torch punica ops skip slot -1 (as its GPU kernels do)",
        where="vllm_ipex_plugin/compat/punica_host.py",
        used_by=("vllm_ipex_plugin/platform/xpu_platform.py",),
        checks=(
            Signature("vllm.lora.punica_wrapper.punica_cpu:PunicaWrapperCPU._shrink_prefill",
                      ("self", "y", "x", "w_t_all", "scale")),
            Signature("vllm.lora.punica_wrapper.punica_cpu:PunicaWrapperCPU._shrink_decode",
                      ("self", "y", "x", "w_t_all", "scale")),
            Signature("vllm.lora.punica_wrapper.punica_cpu:PunicaWrapperCPU.add_lora_logits",
                      ("self", "y", "x", "lora_a_stacked", "lora_b_stacked", "scale", "buffer", "kwargs")),
            Signature("vllm.lora.ops.torch_ops:bgmv_shrink",
                      ("inputs", "lora_b_weights", "output_tensor", "lora_indices_tensor", "scaling")),
            Signature("vllm.lora.ops.torch_ops:bgmv_expand",
                      ("inputs", "lora_b_weights", "output_tensor", "lora_indices_tensor", "add_inputs")),
            Exists("vllm.lora.punica_wrapper.punica_base:PunicaWrapperBase.token_lora_indices"),
            Exists("vllm.lora.punica_wrapper.punica_base:PunicaWrapperBase.sampler_indices"),
        ),
    ),
    Touch(
        key="worker-process-name",
        symbol="multiprocessing process name 'VllmWorker-<rank>' given by vllm.v1.executor.multiproc_executor",
        kind="private attribute",
        why="a worker ends at once (SIGKILL) when its engine core dies, also when it is stopped or stuck in a "
        "collective; the engine core itself gets SIGTERM, so that it can still stop its workers",
        upstream="none",
        remove_when="vLLM tells plugins a process's role, or ends its workers itself when the engine core dies",
        where="vllm_ipex_plugin/compat/process_names.py",
        used_by=("vllm_ipex_plugin/platform/process_lifetime.py",),
        checks=(SourceContains("vllm.v1.executor.multiproc_executor:WorkerProc.make_worker_process",
                               'name=f"VllmWorker-{rank}"'),),
    ),
    Touch(
        key="xpu-communicator",
        symbol="vllm.distributed.device_communicators.xpu_communicator.XpuCommunicator (subclassed)",
        kind="subclass",
        why="its xccl collectives need no vllm-xpu-kernels; the subclass replaces all_gather / reduce_scatter "
        "/ all_reduce on gloo (host mode), calling the parents' on xccl, and reads device_group, "
        "world_size and rank_in_group set by DeviceCommunicatorBase",
        upstream="none",
        remove_when="vLLM's XpuCommunicator handles gloo device groups (then host mode can use it unchanged)",
        where="vllm_ipex_plugin/compat/communicator.py",
        used_by=("vllm_ipex_plugin/distributed/communicator.py",),
        checks=(
            Signature(
                "vllm.distributed.device_communicators.xpu_communicator:XpuCommunicator.__init__",
                ("self", "cpu_group", "device", "device_group", "unique_name", "use_all2all"),
            ),
            Signature(
                "vllm.distributed.device_communicators.xpu_communicator:XpuCommunicator.all_gather",
                ("self", "input_", "dim"),
            ),
            Signature(
                "vllm.distributed.device_communicators.xpu_communicator:XpuCommunicator.reduce_scatter",
                ("self", "input_", "dim"),
            ),
            Signature(
                "vllm.distributed.device_communicators.xpu_communicator:XpuCommunicator.all_reduce",
                ("self", "input_"),
            ),
            *(
                AssignsAttribute(
                    "vllm.distributed.device_communicators.base_device_communicator:DeviceCommunicatorBase.__init__",
                    attribute,
                )
                for attribute in ("device_group", "world_size", "rank_in_group")
            ),
        ),
    ),
    Touch(
        key="preferred-block-size",
        symbol="vllm.platforms.interface.Platform._preferred_block_size_for_backends calling "
        "AttentionBackend.get_preferred_block_size",
        kind="private override",
        why="without --block-size the IPEX_XPU_ATTN backend asks for 64-token blocks (one Triton KV tile); "
        "only this private platform method consults the backend's preference (single backend only)",
        upstream="none",
        remove_when="vLLM documents the block-size preference as a backend contract",
        where="vllm_ipex_plugin/attention/backend.py",
        used_by=("vllm_ipex_plugin/attention/backend.py",),
        checks=(
            Signature(
                "vllm.platforms.interface:Platform._preferred_block_size_for_backends",
                ("backend_classes", "default_block_size", "vllm_config"),
            ),
            Signature("vllm.v1.attention.backend:AttentionBackend.get_preferred_block_size", ("default_block_size",)),
        ),
    ),
    Touch(
        key="cpu-platform-kernels",
        symbol="vllm.platforms.cpu.CpuPlatform.import_kernels / register_triton_kernel_overrides (delegated to)",
        kind="delegation",
        why="the host platform is not vLLM's CPU platform but needs its per-ISA kernel library choice "
        "(_C / _C_AVX512 / _C_AVX2; vllm._C alone is SIGILL without AVX-512) and its C++ fallbacks for "
        "vLLM's Triton helpers",
        upstream="none",
        remove_when="the host platform subclasses vLLM's CPU platform",
        where="vllm_ipex_plugin/compat/cpu_platform.py",
        used_by=("vllm_ipex_plugin/platform/xpu_platform.py",),
        checks=(
            Signature("vllm.platforms.cpu:CpuPlatform.import_kernels", ()),
            Signature("vllm.platforms.cpu:CpuPlatform.register_triton_kernel_overrides", ()),
        ),
    ),
    Touch(
        key="mm-prefix-range-cleared",
        symbol="Gemma4ForConditionalGeneration._clear_mm_prefix_for_full_attn_layers setting "
        "attn_metadata[layer].mm_prefix_range = None",
        kind="private attribute",
        why="Gemma4's full-attention layers are causal while its sliding layers see image spans; the model "
        "says so by clearing the attribute on those layers' metadata, so IpexAttentionMetadata carries the "
        "spans under that name too and drops them where it was cleared (else the global layers attend "
        "bidirectionally over images and the tokens differ from transformers')",
        upstream="none",
        remove_when="vLLM passes per-layer span policy to backends (for instance on the layer or the spec)",
        where="vllm_ipex_plugin/attention/backend.py",
        used_by=("vllm_ipex_plugin/attention/backend.py",),
        checks=(
            SourceContains("vllm.model_executor.models.gemma4_mm:Gemma4ForConditionalGeneration."
                           "_clear_mm_prefix_for_full_attn_layers", "metadata.mm_prefix_range = None"),
        ),
    ),
)

ENTRIES: dict[str, Touch] = {touch.key: touch for touch in MANIFEST}
assert len(ENTRIES) == len(MANIFEST), "duplicate manifest key"
