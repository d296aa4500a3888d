"""Tensor descriptors over the paged cache and the step's new keys/values: which tensors a
descriptor can cover, and building them (host code).

``triton.tools.tensor_descriptor`` is imported only when a descriptor is built: Intel's
Triton 3.3 lacks it, and every module of this package must import there. Imports torch.
"""

from __future__ import annotations

import torch


def rows_describable(t: torch.Tensor, row_stride: int, head_stride: int) -> bool:
    """Whether ``t`` (heads and head size its last two dims) is a row-major matrix a tensor
    descriptor can cover: unit stride inside a head, 16-byte aligned rows, heads inside a row."""
    heads, d = t.shape[-2], t.shape[-1]
    return (t.stride(-1) == 1 and row_stride * t.element_size() % 16 == 0 and t.data_ptr() % 16 == 0
            and head_stride * (heads - 1) + d <= row_stride)


def caches_describable(key_cache: torch.Tensor, value_cache: torch.Tensor) -> bool:
    """Whether both caches' blocks stack into one row-major matrix of ``block_size`` rows per
    block (vLLM's NHD layouts, K and V packed or not) a descriptor can cover."""
    block_size = key_cache.shape[1]
    return all(c.stride(0) == block_size * c.stride(1) and rows_describable(c, c.stride(1), c.stride(2))
               for c in (key_cache, value_cache))


def new_kv_describable(key: torch.Tensor | None, value: torch.Tensor | None, key_cache: torch.Tensor) -> bool:
    """Whether the step's new ``[tokens, kv_heads, head_size]`` keys and values (strided views of
    the QKV projection in vLLM) can be read through descriptors in place of the cache."""
    if key is None or value is None:
        return False
    return all(t.dtype == key_cache.dtype and t.shape[1:] == key_cache.shape[2:]
               and rows_describable(t, t.stride(0), t.stride(1)) for t in (key, value))


def row_descriptor(t: torch.Tensor, rows: int, row_stride: int, head_stride: int, block_n: int):
    """A descriptor over ``t`` seen as [rows, row]: head ``h`` of row ``r`` is the tile at
    (``r``, ``h * head_stride``)."""
    from triton.tools.tensor_descriptor import TensorDescriptor

    cols = head_stride * (t.shape[-2] - 1) + t.shape[-1]
    return TensorDescriptor(t, [rows, cols], [row_stride, 1], [block_n, t.shape[-1]])


def kv_descriptors(key_cache: torch.Tensor, value_cache: torch.Tensor, block_n: int):
    """Descriptors over each cache seen as a [blocks * block_size, row] matrix."""
    return tuple(row_descriptor(c, c.shape[0] * c.shape[1], c.stride(1), c.stride(2), block_n)
                 for c in (key_cache, value_cache))


def new_kv_descriptors(key: torch.Tensor, value: torch.Tensor, block_n: int):
    """Descriptors over the step's new keys and values (``new_kv_describable`` first)."""
    return tuple(row_descriptor(t, t.shape[0], t.stride(0), t.stride(1), block_n) for t in (key, value))
