"""Plugin registration and platform selection, as vLLM sees them after ``pip install``."""

from __future__ import annotations

import os
from importlib import metadata

import pytest
import torch

from tests.harness.runners import run_python
from vllm_ipex_plugin.platform import device_rules
from vllm_ipex_plugin.platform.cli import device_from_argv
from vllm_ipex_plugin.version_check import UnsupportedVllmVersion, check_vllm_version

PRINT_PLATFORM = (
    "from vllm.platforms import current_platform; "
    "print(type(current_platform).__module__ + '.' + type(current_platform).__name__)"
)


def test_entry_points_resolve():
    platform_eps = {ep.name: ep for ep in metadata.entry_points(group="vllm.platform_plugins")}
    general_eps = {ep.name: ep for ep in metadata.entry_points(group="vllm.general_plugins")}
    assert platform_eps["ipex_xpu"].value == "vllm_ipex_plugin:register_platform"
    assert general_eps["ipex_xpu_ops"].value == "vllm_ipex_plugin:register_general"
    ours = {name for name, ep in platform_eps.items() if ep.value.startswith("vllm_ipex_plugin")}
    # vLLM treats an OOT entry point named like a built-in platform as that platform.
    assert not {"xpu", "cpu", "cuda", "rocm", "tpu"} & ours
    assert callable(platform_eps["ipex_xpu"].load())
    assert callable(general_eps["ipex_xpu_ops"].load())


def test_host_mode_selects_plugin_platform():
    result = run_python(PRINT_PLATFORM, IPEX_PLUGIN_HOST_MODE="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("xpu_platform.XpuHostPlatform")


def test_no_xpu_and_host_mode_off_keeps_vllm_cpu_platform():
    code = PRINT_PLATFORM + (
        "; from vllm.plugins import load_general_plugins; load_general_plugins(); "
        "from vllm.model_executor.layers.quantization import QUANTIZATION_METHODS; "
        "print('ipex_low_bit' in QUANTIZATION_METHODS)"
    )
    result = run_python(code, IPEX_PLUGIN_HOST_MODE=None, IPEX_PLUGIN_DEVICE=None)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-2] == "vllm.platforms.cpu.CpuPlatform"
    assert lines[-1] == "True", "general plugin must still load on vLLM's own platform"


def test_xpu_requested_without_gpu_fails_with_one_line():
    result = run_python(PRINT_PLATFORM, IPEX_PLUGIN_HOST_MODE=None, IPEX_PLUGIN_DEVICE="xpu")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("vllm_ipex_plugin: --device xpu was requested but torch sees no Intel GPU")
    assert "IPEX_PLUGIN_HOST_MODE=1" in last
    assert "Traceback" not in result.stderr


def test_select_platform_rules():
    assert device_rules.select_platform(True, False, "") == device_rules.HOST_PLATFORM
    assert device_rules.select_platform(True, False, "xpu") == device_rules.HOST_PLATFORM
    assert device_rules.select_platform(False, True, "") == device_rules.XPU_PLATFORM
    assert device_rules.select_platform(False, False, "") is None
    assert device_rules.select_platform(False, False, "cpu") is None
    with pytest.raises(device_rules.XpuUnavailableError, match="no Intel GPU"):
        device_rules.select_platform(False, False, "xpu")


def test_device_flag_is_read_from_argv():
    assert device_from_argv(["serve", "m", "--device", "xpu"]) == "xpu"
    assert device_from_argv(["serve", "m", "--device=XPU"]) == "xpu"
    assert device_from_argv(["serve", "m", "--device-ids", "0"]) == ""
    assert device_from_argv(["serve", "m"]) == ""


@pytest.mark.parametrize(
    "name",
    ["Intel(R) Arc(TM) A770 Graphics", "Intel(R) Arc(TM) A380 Graphics", "Intel(R) Arc(TM) Pro A60"],
)
def test_alchemist_has_no_bf16(name):
    assert not device_rules.supports_bf16(name)
    assert device_rules.supported_dtypes(name)[0] == torch.float16
    assert torch.bfloat16 not in device_rules.supported_dtypes(name)
    with pytest.raises(ValueError, match=r"no reliable bfloat16 support .* --dtype float16"):
        device_rules.check_dtype(torch.bfloat16, name)
    device_rules.check_dtype(torch.float16, name)


@pytest.mark.parametrize(
    "name",
    ["Intel(R) Arc(TM) B580 Graphics", "Intel(R) Data Center GPU Max 1550", "Intel(R) Arc(TM) 140V GPU"],
)
def test_other_intel_gpus_keep_bf16(name):
    assert device_rules.supports_bf16(name)
    assert device_rules.supported_dtypes(name)[0] == torch.bfloat16
    device_rules.check_dtype(torch.bfloat16, name)


def test_vllm_version_range():
    check_vllm_version("0.32.0")
    check_vllm_version("0.32.3+cpu")
    for bad in ("0.31.9", "0.33.0", "1.0.0"):
        with pytest.raises(UnsupportedVllmVersion, match=r"works with vLLM 0\.32\.x"):
            check_vllm_version(bad)
    with pytest.raises(UnsupportedVllmVersion, match="not installed"):
        check_vllm_version(None)


def test_vllm_cli_accepts_ipex_llm_flags(monkeypatch):
    """`vllm serve ... --device xpu --load-in-low-bit sym_int4` parses on the plugin's platform."""
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    # Registered first so teardown restores the original (unset) values the actions overwrite.
    monkeypatch.setenv("IPEX_PLUGIN_LOW_BIT", "")
    monkeypatch.setenv("IPEX_PLUGIN_DEVICE", "")
    parser = AsyncEngineArgs.add_cli_args(FlexibleArgumentParser())
    parser.parse_args(["--model", "m", "--device", "xpu", "--load-in-low-bit", "sym_int4"])
    assert os.environ["IPEX_PLUGIN_LOW_BIT"] == "sym_int4"
    assert os.environ["IPEX_PLUGIN_DEVICE"] == "xpu"
    with pytest.raises(SystemExit):
        parser.parse_args(["--model", "m", "--load-in-low-bit", "int3"])


def test_vision_attention_is_torch_sdpa_and_other_choices_get_one_line():
    """Vision towers run torch SDPA on the plugin's platform (every Intel card, host mode); a
    backend it cannot run is refused with what to use instead."""
    from vllm.v1.attention.backends.registry import AttentionBackendEnum

    from vllm_ipex_plugin.platform.xpu_platform import XpuHostPlatform

    assert XpuHostPlatform.get_supported_vit_attn_backends() == [AttentionBackendEnum.TORCH_SDPA]
    assert XpuHostPlatform.get_vit_attn_backend(64, torch.float32) == AttentionBackendEnum.TORCH_SDPA
    sdpa = AttentionBackendEnum.TORCH_SDPA
    assert XpuHostPlatform.get_vit_attn_backend(64, torch.float16, sdpa) == sdpa
    with pytest.raises(ValueError) as err:
        XpuHostPlatform.get_vit_attn_backend(64, torch.float16, AttentionBackendEnum.FLASH_ATTN)
    assert str(err.value) == (f"vllm_ipex_plugin: vision attention backend FLASH_ATTN is not available on "
                              f"{XpuHostPlatform.device_name}; use TORCH_SDPA (or leave --mm-encoder-attn-backend "
                              "unset).")
