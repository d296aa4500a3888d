"""The KV-cache write: scatters the step's keys and values into the paged cache (layout in
``batch``; the torch twin is ``reference.write_kv_cache``). Launch configuration:
``plan.kv_write_config``.

Imports Triton and ``plan``.
"""

from __future__ import annotations

import triton
import triton.language as tl

from vllm_ipex_plugin.kernels.attention.plan import kv_write_config
from vllm_ipex_plugin.kernels.common.device import device_facts


@triton.jit
def write_kv_kernel(key_ptr, value_ptr, kc_ptr, vc_ptr, slot_ptr,
                     stride_kt, stride_kh, stride_vt, stride_vh,
                     stride_cb, stride_cn, stride_ch, stride_vcb, stride_vcn, stride_vch,
                     block_size, H: tl.constexpr, HP: tl.constexpr, D: tl.constexpr, DP: tl.constexpr):
    t = tl.program_id(0)
    slot = tl.load(slot_ptr + t).to(tl.int64)
    if slot >= 0:
        blk = slot // block_size
        off = slot % block_size
        h = tl.arange(0, HP)[:, None]
        d = tl.arange(0, DP)[None, :]
        m = (d < D) & (h < H)
        k = tl.load(key_ptr + t * stride_kt + h * stride_kh + d, mask=m)
        v = tl.load(value_ptr + t * stride_vt + h * stride_vh + d, mask=m)
        tl.store(kc_ptr + blk * stride_cb + off * stride_cn + h * stride_ch + d, k.to(kc_ptr.dtype.element_ty), mask=m)
        tl.store(vc_ptr + blk * stride_vcb + off * stride_vcn + h * stride_vch + d, v.to(vc_ptr.dtype.element_ty),
                 mask=m)


def write_kv_cache(key, value, key_cache, value_cache, slot_mapping) -> None:
    """Scatter ``[T, H, D]`` keys/values into ``[blocks, block_size, H, D]`` cache views."""
    t, h, d = key.shape[0], key.shape[1], key.shape[2]
    t = min(t, slot_mapping.shape[0])
    if t == 0:
        return
    config = kv_write_config(h, d, device_facts(key.device))
    write_kv_kernel[(t,)](
        key, value, key_cache, value_cache, slot_mapping,
        key.stride(0), key.stride(1), value.stride(0), value.stride(1),
        key_cache.stride(0), key_cache.stride(1), key_cache.stride(2),
        value_cache.stride(0), value_cache.stride(1), value_cache.stride(2),
        key_cache.shape[1], **config.kwargs(),
    )
