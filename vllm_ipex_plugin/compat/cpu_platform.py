"""vLLM's own CPU platform hooks that the host-mode platform delegates to.

Manifest entry ``cpu-platform-kernels`` (``compat/__init__.py``).
"""

from __future__ import annotations


def import_cpu_kernels() -> None:
    """Load the CPU kernel library vLLM's CPU platform picks for this CPU.

    The CPU wheel ships one library per ISA (``_C`` = AVX-512 + BF16, ``_C_AVX512``,
    ``_C_AVX2``). Importing ``vllm._C`` directly dies with SIGILL on CPUs without AVX-512.
    """
    from vllm.platforms.cpu import CpuPlatform

    CpuPlatform.import_kernels()


_overrides_registered = False


def register_cpu_triton_kernel_overrides() -> None:
    """The C++ fallbacks vLLM's CPU platform registers for vLLM's core Triton helpers, once per process.

    Without a Triton CPU backend, slot mapping and rejection sampling need them. vLLM calls the
    platform hook at every worker start; the overrides rebind module attributes process-wide, so a
    second engine in the same process (an in-process engine core, ``VLLM_ENABLE_V1_MULTIPROCESSING=0``)
    would only wrap the wrappers, and vLLM's rebinding scan over ``sys.modules`` fails once numba's
    llvmlite is loaded (its ``ffi.lib`` answers ``__dict__`` with a C-function wrapper), which vLLM's
    ngram speculative decoding does.
    """
    global _overrides_registered
    if _overrides_registered:
        return
    from vllm.platforms.cpu import CpuPlatform

    CpuPlatform.register_triton_kernel_overrides()
    _overrides_registered = True
