"""Tile addressing of the paged-attention kernel: where a K/V tile lives in the paged cache
(or in the step's new key/value tensors) and how it is loaded, for each ``KvRead``.

Triton device functions only; imports Triton and ``batch``.
"""

from __future__ import annotations

import triton
import triton.language as tl

from vllm_ipex_plugin.kernels.attention.batch import KvRead

# How K/V tiles are read (see tile_place); jit code reads only constexpr globals.
GATHER = tl.constexpr(int(KvRead.GATHER))
BLOCK = tl.constexpr(int(KvRead.BLOCK))
DESC = tl.constexpr(int(KvRead.DESC))
NEW = tl.constexpr(int(KvRead.NEW))


@triton.jit
def load_tile(ptrs, pos_ok, d_ok, MASKED: tl.constexpr, PAD_D: tl.constexpr):
    """A K or V tile; masks only where positions may be out of range or the head is padded."""
    if MASKED:
        if PAD_D:
            t = tl.load(ptrs, mask=pos_ok[:, None] & d_ok[None, :], other=0.0)
        else:
            t = tl.load(ptrs, mask=pos_ok[:, None], other=0.0)
    else:
        if PAD_D:
            t = tl.load(ptrs, mask=d_ok[None, :], other=0.0)
        else:
            t = tl.load(ptrs)
    return t


@triton.jit
def tile_place(bt_row, start, pos_ok, block_size, BLOCK_N: tl.constexpr, MASKED: tl.constexpr,
                KV_LOAD: tl.constexpr):
    """Where KV positions ``start .. start + BLOCK_N`` live (``bt_row``: the request's block
    table; for NEW, the row of position 0 in the new-token tensors).

    GATHER: a block and an offset per position (any tile, any block size). BLOCK and DESC
    need the tile inside one cache block (``block_size % BLOCK_N == 0``, start a multiple
    of ``BLOCK_N``): one block lookup, and the tile's first offset in it. NEW: the row,
    no lookup (with ``block_size`` 1).
    """
    if KV_LOAD == NEW:
        return (bt_row + start).to(tl.int64), 0
    elif KV_LOAD == GATHER:
        pos = start + tl.arange(0, BLOCK_N)
        if MASKED:
            blk = tl.load(bt_row + pos // block_size, mask=pos_ok, other=0)
        else:
            blk = tl.load(bt_row + pos // block_size)
        return blk.to(tl.int64), pos % block_size
    else:
        return tl.load(bt_row + start // block_size).to(tl.int64), start % block_size


@triton.jit
def kv_tile(cache_ptr, desc, blk, off, kvh, stride_b, stride_n, stride_h, pos_ok, d_ok, block_size,
             BLOCK_N: tl.constexpr, DP: tl.constexpr, PAD_D: tl.constexpr, MASKED: tl.constexpr,
             KV_LOAD: tl.constexpr, D0: tl.constexpr = 0):
    """A [BLOCK_N, DP] K or V tile at ``tile_place``'s place, head columns ``D0 .. D0 + DP``:
    plain loads (GATHER, BLOCK) or a tensor descriptor (DESC: TMA on Hopper, 2D block loads on
    Intel's backend). Descriptor tiles are never masked, so past the context they may hold
    anything."""
    d = D0 + tl.arange(0, DP)
    if KV_LOAD == GATHER:
        t = load_tile(cache_ptr + blk[:, None] * stride_b + off[:, None] * stride_n + kvh * stride_h + d[None, :],
                       pos_ok, d_ok, MASKED, PAD_D)
    elif KV_LOAD == BLOCK:
        rows = off + tl.arange(0, BLOCK_N)
        t = load_tile(cache_ptr + blk * stride_b + rows[:, None] * stride_n + kvh * stride_h + d[None, :],
                       pos_ok, d_ok, MASKED, PAD_D)
    else:
        t = desc.load([(blk * block_size + off).to(tl.int32), (kvh * stride_h + D0).to(tl.int32)])
    return t
