"""Kernels: torch reference implementations and Triton kernels.

This package imports neither vLLM nor the rest of the plugin, so the GPU benchmark
machine (torch + Triton, no vLLM) can import and test it standalone.
"""
