"""Tests of vllm_ipex_plugin.kernels.attention (Triton kernels under TRITON_INTERPRET=1)."""
