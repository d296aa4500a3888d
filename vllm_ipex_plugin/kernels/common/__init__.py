"""What every kernel family shares: the facts of the device a launch is planned for, and timing.

May import torch, Triton and ``vllm_ipex_plugin.envs``; never vLLM, the platform or another
kernel family.
"""
