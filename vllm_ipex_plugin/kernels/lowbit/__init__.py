"""Low-bit weights: the ``ipex_low_bit`` formats, their torch reference and their Triton kernels.

The room, by concern (arrows: what a module may import)::

    formats          the format specs (FormatId = the kernels' FMT constexpr)       <- torch
    reference        torch quantize / dequantize / linear, per format               <- formats
    awq_gptq         exact AWQ / GPTQ -> asym_int4 / sym_int8 conversion            <- reference
    decode           @triton.jit decoders, weight-tile loader, split-K helpers      <- formats
    launch           the Launch record and the operand helpers of every launcher    <- formats, reference
    gemv, gemm, dequantize, quantize_kernel
                     one kernel family each, with its launcher                      <- decode, launch, tuning.table
    tuning/          table (lookup, cache files, heuristics; no kernel), tuner CLI  <- kernels (tuner only)
    matmul           dispatch: path + config + kernel, once per layer and bucket    <- all of the above

The graph is acyclic: only ``matmul`` (autotune on first use) imports the tuner. Importing
``formats``, ``reference`` or ``awq_gptq`` needs no Triton. Nothing here imports vLLM or the
rest of the plugin, except ``vllm_ipex_plugin.envs`` and ``kernels/common``: the GPU benchmark
machine (torch + Triton, no vLLM) imports and tests this package standalone.
"""
