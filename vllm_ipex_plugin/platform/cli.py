"""IPEX-LLM's command-line spellings, accepted by stock ``vllm serve``.

vLLM 0.32 has neither ``--device`` nor ``--load-in-low-bit``. ``EngineArgs.from_cli_args``
copies only its own dataclass fields, so these actions store their value in the
plugin's environment variables, which the engine and worker processes inherit.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from vllm_ipex_plugin import envs
from vllm_ipex_plugin.compat.argparse_options import parser_has_option


class _StoreInEnv(argparse.Action):
    env_name = ""

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: D102
        os.environ[self.env_name] = str(values)
        setattr(namespace, self.dest, values)


class _DeviceAction(_StoreInEnv):
    env_name = envs.DEVICE


class _LowBitAction(_StoreInEnv):
    env_name = envs.LOW_BIT


def add_ipex_llm_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--device`` and ``--load-in-low-bit`` unless vLLM already defines them."""
    if not parser_has_option(parser, "--device"):
        parser.add_argument(
            "--device",
            action=_DeviceAction,
            choices=["auto", "xpu", "cpu"],
            default=None,
            help="[vllm_ipex_plugin] Kept for IPEX-LLM scripts. 'xpu' fails start-up when no "
            "Intel GPU is visible instead of falling back to the CPU.",
        )
    if not parser_has_option(parser, "--load-in-low-bit"):
        from vllm_ipex_plugin.quantization.formats import FORMAT_NAMES

        parser.add_argument(
            "--load-in-low-bit",
            action=_LowBitAction,
            choices=sorted(FORMAT_NAMES),
            default=None,
            help="[vllm_ipex_plugin] Weight format of --quantization ipex_low_bit "
            "(default fp8 = fp8_e5m2). Same as --additional-config '{\"low_bit\": ...}'.",
        )


def device_from_argv(argv: Sequence[str]) -> str:
    """The value of ``--device`` on a command line, before any parser exists ('' if absent)."""
    for i, arg in enumerate(argv):
        if arg == "--device" and i + 1 < len(argv):
            return argv[i + 1].strip().lower()
        if arg.startswith("--device="):
            return arg.split("=", 1)[1].strip().lower()
    return ""
