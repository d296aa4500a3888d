"""vllm_ipex_plugin: an Intel GPU (XPU) backend for stock vLLM.

Two entry points, both cheap and idempotent:

- ``register_platform`` (``vllm.platform_plugins``) returns the qualname of the
  platform to activate, or ``None`` so that vLLM keeps its own platform. It must
  not import vLLM modules that resolve ``current_platform``.
- ``register_general`` (``vllm.general_plugins``) registers the attention backend
  and the ``ipex_low_bit`` quantization method in every vLLM process.
"""

from __future__ import annotations

import logging
import sys

__version__ = "0.1.0"

_logger = logging.getLogger("vllm_ipex_plugin")
_general_registered = False


def _supported_vllm() -> bool:
    from vllm_ipex_plugin.version_check import (
        UnsupportedVllmVersion,
        check_vllm_version,
        installed_vllm_version,
    )

    try:
        check_vllm_version(installed_vllm_version())
    except UnsupportedVllmVersion as exc:
        _logger.error("%s", exc)
        return False
    return True


def _xpu_available() -> bool:
    import torch

    xpu = getattr(torch, "xpu", None)
    try:
        return bool(xpu is not None and xpu.is_available() and xpu.device_count() > 0)
    except Exception:  # a broken driver reads as "no Intel GPU"
        return False


def register_platform() -> str | None:
    """``vllm.platform_plugins`` entry: the platform qualname, or ``None``."""
    from vllm_ipex_plugin import envs
    from vllm_ipex_plugin.platform.cli import device_from_argv
    from vllm_ipex_plugin.platform.device_rules import (
        HostCpuUnsupportedError,
        XpuUnavailableError,
        check_host_cpu,
        select_platform,
    )

    if not _supported_vllm():
        return None
    requested = envs.requested_device() or device_from_argv(sys.argv[1:])
    host = envs.host_mode()
    try:
        if host:
            check_host_cpu()
        return select_platform(host, (not host) and _xpu_available(), requested)
    except (XpuUnavailableError, HostCpuUnsupportedError) as exc:
        # vLLM swallows exceptions from platform plugins; SystemExit is not an
        # Exception, so the process stops here with this one line.
        raise SystemExit(str(exc)) from None


def register_general() -> None:
    """``vllm.general_plugins`` entry: register backends and methods in this process."""
    global _general_registered
    if _general_registered or not _supported_vllm():
        return
    _general_registered = True
    from vllm_ipex_plugin.attention import register_attention_backend
    from vllm_ipex_plugin.quantization import register_quantization

    register_attention_backend()
    register_quantization()

    from vllm_ipex_plugin import envs

    if envs.host_mode() or _xpu_available():  # the plugin's platform runs this process
        from vllm_ipex_plugin.platform.process_lifetime import end_this_process_with_its_parent

        end_this_process_with_its_parent()
    if envs.host_mode():
        from vllm_ipex_plugin.compat.host_accelerator import use_host_accelerator_noops

        use_host_accelerator_noops()
