"""Every environment variable of the plugin, in one table.

None starts with ``VLLM_``: vLLM warns about (or, with ``--fail-on-environ-validation``,
rejects) unknown ``VLLM_*`` variables. Every variable is read at call time, so a value set
by a CLI action in the API server process is seen by the engine and worker processes it
spawns. This module imports only the standard library: every layer may read it, the kernels
on a machine without vLLM included. README's table is checked against ``VARIABLES``
(``tests/unit/test_envs.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class EnvVar:
    name: str
    default: str
    choices: tuple[str, ...] | None
    doc: str


VARIABLES: dict[str, EnvVar] = {}


def _define(name: str, default: str, doc: str, choices: tuple[str, ...] | None = None) -> str:
    assert not name.startswith("VLLM_") and name not in VARIABLES
    VARIABLES[name] = EnvVar(name, default, choices, doc)
    return name


HOST_MODE = _define(
    "IPEX_PLUGIN_HOST_MODE", "0",
    "`1` runs the plugin's platform on the CPU (host mode: development and CI; no Intel GPU needed)",
)
DEVICE = _define(
    "IPEX_PLUGIN_DEVICE", "",
    "`xpu` = `--device xpu`: require an Intel GPU; start-up fails with one line when none is visible",
)
LOW_BIT = _define(
    "IPEX_PLUGIN_LOW_BIT", "",
    "default `ipex_low_bit` format (set by `--load-in-low-bit`)",
)
ATTN_PROVIDER = _define(
    "IPEX_PLUGIN_ATTN_PROVIDER", "auto",
    "attention kernels: `auto` (vllm-xpu-kernels' flash attention on XPU where that optional package "
    "is installed, with the cases it does not take on Triton; Triton on XPU/CUDA otherwise; torch "
    "reference elsewhere), `torch`, `triton`, `xpu_kernels`",
    ("auto", "torch", "triton", "xpu_kernels"),
)
LOWBIT_KERNEL = _define(
    "IPEX_PLUGIN_LOWBIT_KERNEL", "auto",
    "low-bit matmul kernels: `auto` (vllm-xpu-kernels' oneDNN GEMMs on XPU where that optional package "
    "is installed, for sym_int4 and AWQ/GPTQ asym_int4 with fp16 activations and fp8_e5m2; Triton on "
    "XPU/CUDA otherwise; torch reference elsewhere), `torch`, `triton`, `xpu_kernels`",
    ("auto", "torch", "triton", "xpu_kernels"),
)
ATTN_KV_LOAD = _define(
    "IPEX_PLUGIN_ATTN_KV_LOAD", "",
    "how the Triton attention kernel reads K/V tiles: `gather`, `block` or `desc` (default: `desc` on "
    "CUDA compute capability 9+, `block` elsewhere)",
    ("gather", "block", "desc"),
)
HOST_KV_CACHE_GIB = _define(
    "IPEX_PLUGIN_HOST_KV_CACHE_GIB", "1",
    "host-mode KV cache size in GiB when `--kv-cache-memory-bytes` is not given",
)
CACHE = _define(
    "IPEX_PLUGIN_CACHE", "~/.cache/vllm_ipex_plugin",
    "where the demo and test models are built, tuned kernel configs are cached (`tuning/<device>.json`) "
    "and the Intel compile check keeps its toolchain and results",
)
LOWBIT_AUTOTUNE = _define(
    "IPEX_PLUGIN_LOWBIT_AUTOTUNE", "0",
    "`1` tunes low-bit kernel configs for new shapes on first use",
)
SKIP_INTEL_COMPILE = _define(
    "IPEX_PLUGIN_SKIP_INTEL_COMPILE", "0",
    "`1` skips the Intel compile check in the test suite (only for machines that cannot install its "
    "toolchain; CI never sets it)",
)

COLLECTIVE_TIMEOUT_S = _define(
    "IPEX_PLUGIN_COLLECTIVE_TIMEOUT_S", "600",
    "seconds a collective (all-reduce, send/recv between stages) may wait for a peer before the engine "
    "stops with an error instead of hanging; used where `--distributed-timeout-seconds` / "
    "`--cpu-distributed-timeout-seconds` are not given",
)

# Not a user setting, so not in VARIABLES: the host platform's ``device_control_env_var``,
# which vLLM reads and sets the way it does CUDA_VISIBLE_DEVICES.
HOST_DEVICES = "IPEX_PLUGIN_HOST_DEVICES"

TRUTHY = ("1", "true", "yes", "on")


def _raw(name: str) -> str:
    return os.environ.get(name, "").strip()


def _flag(name: str) -> bool:
    return _raw(name).lower() in TRUTHY


def _choice(name: str) -> str:
    """The variable's value from its choices (its default when unset); one line naming them otherwise."""
    var = VARIABLES[name]
    value = _raw(name).lower() or var.default
    if var.choices and value and value not in var.choices:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(var.choices)}; unset it for the default.")
    return value


def host_mode() -> bool:
    return _flag(HOST_MODE)


def requested_device() -> str:
    return _raw(DEVICE).lower()


def low_bit() -> str | None:
    return _raw(LOW_BIT) or None


def attn_provider() -> str:
    """Unchecked: the attention layer names what is available when the choice cannot run."""
    return _raw(ATTN_PROVIDER).lower() or VARIABLES[ATTN_PROVIDER].default


def lowbit_kernel() -> str:
    """Unchecked: anything but ``torch`` / ``triton`` / ``xpu_kernels`` means ``auto``."""
    return _raw(LOWBIT_KERNEL).lower() or VARIABLES[LOWBIT_KERNEL].default


def attn_kv_load() -> str:
    """``""`` when unset (the device's default read applies)."""
    return _choice(ATTN_KV_LOAD)


def host_kv_cache_bytes() -> int:
    return int(float(_raw(HOST_KV_CACHE_GIB) or VARIABLES[HOST_KV_CACHE_GIB].default) * (1 << 30))


def cache_root() -> str:
    """The plugin's cache folder (not created here)."""
    return _raw(CACHE) or os.path.join(os.path.expanduser("~"), ".cache", "vllm_ipex_plugin")


def lowbit_autotune() -> bool:
    return _flag(LOWBIT_AUTOTUNE)


def collective_timeout_s() -> int:
    raw = _raw(COLLECTIVE_TIMEOUT_S) or VARIABLES[COLLECTIVE_TIMEOUT_S].default
    try:
        seconds = int(raw)
    except ValueError:
        seconds = 0
    if seconds <= 0:
        raise ValueError(
            f"{COLLECTIVE_TIMEOUT_S}={raw!r} is not a positive number of seconds; unset it for the default."
        )
    return seconds


def skip_intel_compile() -> bool:
    return _flag(SKIP_INTEL_COMPILE)


def markdown_table() -> str:
    """README's environment-variable table, generated from ``VARIABLES``."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for var in VARIABLES.values():
        rows.append(f"| `{var.name}` | {f'`{var.default}`' if var.default else '-'} | {var.doc} |")
    return "\n".join(rows)
