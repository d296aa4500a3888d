"""Environment variables of the plugin.

None starts with ``VLLM_``: vLLM warns about (or, with
``--fail-on-environ-validation``, rejects) unknown ``VLLM_*`` variables.
Every variable is read at call time, so a value set by a CLI action in the API
server process is seen by the engine and worker processes it spawns.
"""

from __future__ import annotations

import os

HOST_MODE = "IPEX_PLUGIN_HOST_MODE"
"""``1`` runs the plugin's platform on the CPU with torch reference kernels
(development and CI mode; no Intel GPU needed)."""

DEVICE = "IPEX_PLUGIN_DEVICE"
"""``xpu`` asks for an Intel GPU explicitly: start-up fails with one clear line
when none is visible instead of silently falling back to vLLM's CPU platform.
Set by ``vllm serve --device xpu`` as well."""

LOW_BIT = "IPEX_PLUGIN_LOW_BIT"
"""Default ``ipex_low_bit`` format; set by ``vllm serve --load-in-low-bit``."""

ATTN_PROVIDER = "IPEX_PLUGIN_ATTN_PROVIDER"
"""``auto`` (default), ``torch``, ``triton`` or ``xpu_kernels`` (the optional
vllm-xpu-kernels package): which attention kernels to use."""

HOST_KV_CACHE_GIB = "IPEX_PLUGIN_HOST_KV_CACHE_GIB"
"""KV cache size in host mode when ``--kv-cache-memory-bytes`` is not given
(default 1 GiB; host mode has no device memory to budget)."""

TRUTHY = ("1", "true", "yes", "on")


def host_mode() -> bool:
    return os.environ.get(HOST_MODE, "").strip().lower() in TRUTHY


def requested_device() -> str:
    return os.environ.get(DEVICE, "").strip().lower()


def low_bit() -> str | None:
    value = os.environ.get(LOW_BIT, "").strip()
    return value or None


def attn_provider() -> str:
    return os.environ.get(ATTN_PROVIDER, "auto").strip().lower() or "auto"


def host_kv_cache_bytes() -> int:
    return int(float(os.environ.get(HOST_KV_CACHE_GIB, "1")) * (1 << 30))
