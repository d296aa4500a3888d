"""The contract between the attention backend and every paged-attention kernel: one step's
batch, the cache layout, and the ways a kernel may read K/V tiles of it.

Query, output, new keys and values: ``[num_tokens, heads, head_size]``, the requests' new
tokens back to back (``query_start_loc``). Caches: ``key_cache`` and ``value_cache`` are
``[num_blocks, block_size, num_kv_heads, head_size]`` (possibly strided views of one packed
tensor, vLLM's NHD layout with K and V on the last dim). A flat slot is
``block * block_size + offset``; negative slots are padding and are skipped. GQA/MQA: query
head ``h`` reads KV head ``h // (num_heads // num_kv_heads)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import torch


@dataclass
class PagedBatch:
    """One step's batch: requests laid out back to back in the query tensor.

    ``seq_lens[i]`` counts every token of request ``i`` including its new ones, so the
    new tokens of request ``i`` sit at positions ``seq_lens[i] - q_len_i ..
    seq_lens[i] - 1`` (a cached prefix or earlier chunks come before them).
    """

    query_start_loc: torch.Tensor  # [num_reqs + 1] int32
    seq_lens: torch.Tensor  # [num_reqs] int32
    block_table: torch.Tensor  # [num_reqs, max_blocks] int32
    num_reqs: int
    causal: bool = True
    max_query_len: int = 0
    max_seq_len: int = 0
    plan: object | None = None  # Triton work split for this step (kernels.attention.plan.make_plan)
    # Bidirectional spans (multimodal prefix LMs: Gemma3, PaliGemma): [num_reqs, ranges, 2] int32 of
    # inclusive absolute positions (start, end); a query inside a span also sees every key of that span,
    # later ones included. Spans with start >= end are padding. None: no span in this step.
    mm_ranges: torch.Tensor | None = None


def mm_range_tensor(ranges: dict[int, list[tuple[int, int]]] | None, num_reqs: int,
                    device: torch.device | str) -> torch.Tensor | None:
    """vLLM's per-request spans (``CommonAttentionMetadata.mm_req_doc_ranges``: request index ->
    ``[(start, end), ...]``, inclusive) as ``PagedBatch.mm_ranges``: padded with ``(0, 0)`` to a
    power-of-two count per request (few distinct kernel variants), or None when no request has one."""
    if not ranges or not any(ranges.get(i) for i in range(num_reqs)):
        return None
    width = 1 << (max(len(ranges.get(i) or ()) for i in range(num_reqs)) - 1).bit_length()
    rows = [list(ranges.get(i) or ()) + [(0, 0)] * (width - len(ranges.get(i) or ())) for i in range(num_reqs)]
    return torch.tensor(rows, dtype=torch.int32).to(device)


class KvRead(IntEnum):
    """How the Triton kernel reads a K/V tile (its ``KV_LOAD`` constexpr); the plan's
    ``kv_load`` names the first three."""

    GATHER = 0
    """A block-table lookup and an offset per position: any tile, any block size."""
    BLOCK = 1
    """One block-table lookup per tile, plain loads: the tile lies inside one cache block
    (``block_size % BLOCK_N == 0``). The portable default."""
    DESC = 2
    """One lookup per tile, a tensor descriptor over the cache (TMA on Hopper; Intel's
    backend lowers it to 2D block loads): tiles inside blocks, a power-of-two head size, a
    cache whose blocks stack into one row-major matrix, 16-byte aligned."""
    NEW = 3
    """The step's new tokens, read through descriptors over the key/value tensors vLLM
    passes (views of the QKV projection), no block table."""
