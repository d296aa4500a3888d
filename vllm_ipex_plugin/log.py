"""Plugin loggers live under vLLM's ``vllm.`` logger so they share its handlers and level."""

from __future__ import annotations


def get_logger(module_name: str):
    from vllm.logger import init_logger

    return init_logger(f"vllm.{module_name}")
