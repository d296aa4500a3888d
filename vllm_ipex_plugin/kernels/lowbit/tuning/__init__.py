"""Launch configurations of the low-bit kernels: the table and the tuner that fills it.

- ``table``: lookup (user cache, shipped tables, heuristics), cache files, the path rules;
  imports ``formats``, ``kernels/common`` and ``envs``, never a kernel module.
- ``tuner``: ``python -m vllm_ipex_plugin.kernels.lowbit.tuning.tuner``; checks every candidate
  against the reference before timing it; imports the kernels and ``table``.
- ``shipped/<device>.json``: tables shipped with the wheel (package data).
"""
