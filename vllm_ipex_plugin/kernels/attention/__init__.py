"""Paged attention kernels: the torch reference and the Triton kernels, one module per concern.

- ``batch``: the contract with the backend (``PagedBatch``, cache layout, ``KvRead``); torch only.
- ``reference``: torch reference (host mode, fallback, what the kernels are tested against).
- ``plan``: host planning only (``AttentionPlan``, ``make_plan``, default K/V read, every
  kernel's ``LaunchConfig``), from ``kernels.common.DeviceFacts``, no live device query.
- ``descriptors``: which tensors a tensor descriptor covers, and building them.
- ``tiles`` (tile addressing), ``softmax`` (the two online-softmax loops), ``paged`` (the
  main kernel), ``merge`` (split merge), ``kv_write`` (KV-cache write kernel and launcher):
  kernel bodies.
- ``launch``: the host entry (``paged_attention``, ``write_kv_cache``) and ``launch_configs``
  (every launch for a shape on a device, for the Intel compile check).

Import order (acyclic): batch <- reference; batch, descriptors <- plan <- kv_write; batch <-
tiles <- softmax <- paged; merge; all <- launch. May import torch, Triton,
``vllm_ipex_plugin.envs`` and ``kernels.common``; never vLLM, the platform or another kernel
family. ``triton.tools.tensor_descriptor`` is imported only when a descriptor is built, so
every module imports under Intel's Triton 3.3. Importing this package imports nothing; the
reference needs no Triton.
"""
