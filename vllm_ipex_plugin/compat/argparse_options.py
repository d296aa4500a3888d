"""argparse's private option table, read to add IPEX-LLM flags only where vLLM has none.

Manifest entry ``argparse-option-table`` (``compat/__init__.py``).
"""

from __future__ import annotations

import argparse


def parser_has_option(parser: argparse.ArgumentParser, option: str) -> bool:
    """Whether ``option`` (``--device``) is already defined on ``parser`` or its parents."""
    return option in parser._option_string_actions
