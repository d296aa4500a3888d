"""Host planning of the attention kernels: the per-step work split (``AttentionPlan``,
``make_plan``), the default K/V read, and the launch configuration (constexprs, warps,
stages) of every kernel, as pure functions of shapes, layouts and ``DeviceFacts``.

No live device query happens here: ``make_plan`` takes the device's facts (read once per
device by ``kernels.common.device``) so that the same code answers for a card that is not
present (``launch.launch_configs(INTEL_TARGETS[arch], ...)``). Tile shapes per read come
from NVIDIA sweeps (BENCHMARKS.md); Intel ones (``INTEL_TILES``) from the Intel compile check.

Imports torch, Triton's host helpers, ``vllm_ipex_plugin.envs``, ``kernels.common``,
``batch`` and ``descriptors``; no kernel body.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import triton

from vllm_ipex_plugin import envs
from vllm_ipex_plugin.kernels.attention.batch import KvRead
from vllm_ipex_plugin.kernels.attention.descriptors import caches_describable, new_kv_describable
from vllm_ipex_plugin.kernels.common.device import DeviceFacts, device_facts

KV_LOADS = envs.VARIABLES[envs.ATTN_KV_LOAD].choices  # ("gather", "block", "desc"): KvRead's first three
# Programs a decode grid should reach before context splits stop doubling, per compute unit,
# and the most splits (a split also holds at least one KV tile of the longest context).
_GRID_PER_UNIT = 2
_MAX_SPLITS = 32
# Partial rows the split merge combines per loop step (CUDA: as many as fit _CUDA_MERGE_TILE values).
_MERGE_CHUNK = 8
_CUDA_MERGE_TILE = 4096
# A CUDA prefill step takes 128-row query tiles (64 otherwise) from a context of LONG_PREFILL
# positions, or from LONG_CACHED_PREFIX positions more than its longest new-token run (a
# chunk over a cached prefix; exact for one request, an estimate for a mixed batch).
LONG_PREFILL = 8192
LONG_CACHED_PREFIX = 2048
# Compute units assumed where the facts have none (the CPU of host mode).
_DEFAULT_UNITS = 64


@dataclass(frozen=True)
class LaunchConfig:
    """What a launch passes besides its tensors: constexprs, ``num_warps`` / ``num_stages``
    (None: the backend's default, not passed) and backend compile options (``options``: on
    Intel GPUs ``grf_mode`` and ``threads_per_warp``; empty elsewhere)."""

    constexprs: dict[str, int | bool] = field(default_factory=dict)
    num_warps: int | None = None
    num_stages: int | None = None
    options: dict[str, int | str] = field(default_factory=dict)

    def kwargs(self) -> dict[str, int | bool | str]:
        """The keyword arguments of ``kernel[grid](...)``."""
        options = {"num_warps": self.num_warps, "num_stages": self.num_stages}
        return {**self.constexprs, **{k: v for k, v in options.items() if v is not None}, **self.options}


@dataclass(frozen=True)
class IntelTiles:
    """The paged kernel's tiles on one Intel architecture, for heads up to 128 wide (``*_d64``:
    KV tile at 64 wide; ``*_wide``: above 128). Chosen with the Intel compile check (spill,
    GRF mode and DPAS per configuration: BENCHMARKS.md): Intel runs 16 lanes per warp (DG2 32
    by default), so a lane holds twice an NVIDIA lane's share of a tile, and 256-register mode
    with more warps is what keeps the accumulators out of memory. ``rows``: query rows per
    program of every step with more than one new token (each such step takes that one tile,
    so the card JIT-compiles one prefill variant, not one per step shape).
    ``wide_decode_score_fma``: decode steps of wide heads compute scores on the vector units in
    chunks of this many head columns (``softmax.tile_scores``): with the values dot the only
    dot, Intel's backend spreads the warps over the accumulator's columns; prefill tiles of
    wide heads take the head in two halves instead. ``wide_cols`` (1, 2 or 4): programs per
    prefill tile of a wide head, each computing the whole scores and one slice of the output
    columns (``paged_attn_kernel``'s ``COLS``): a slice of the accumulator and V tile per warp,
    for the score work done once per slice."""

    rows: int
    block_n: int
    block_n_d64: int
    warps: int
    stages: int
    decode_block_n: int
    decode_block_n_d64: int
    decode_warps: int
    wide_rows: int
    wide_block_n: int
    wide_warps: int
    wide_decode_score_fma: int
    options: dict[str, int | str]
    wide_cols: int = 1


_XE_TILES = IntelTiles(rows=128, block_n=64, block_n_d64=32, warps=16, stages=3, decode_block_n=64,
                       decode_block_n_d64=32, decode_warps=8, wide_rows=64, wide_block_n=16, wide_warps=8,
                       wide_decode_score_fma=16, wide_cols=4,
                       options={"grf_mode": "large"})
# Alchemist: no DPAS in Triton's Intel backend (FMA dots) and a smaller register budget per
# lane at 32 lanes: small tiles, 16 lanes per warp.
_DG2_TILES = IntelTiles(rows=32, block_n=16, block_n_d64=16, warps=32, stages=2, decode_block_n=16,
                        decode_block_n_d64=16, decode_warps=16, wide_rows=16, wide_block_n=16, wide_warps=32,
                        wide_decode_score_fma=16,
                        options={"grf_mode": "large", "threads_per_warp": 16})
# Per architecture; unknown Intel GPUs (and Meteor Lake's iGPU, which has no matrix units) get
# the Alchemist tiles, Lunar Lake's Xe2 those of Battlemage.
INTEL_TILES: dict[str, IntelTiles] = {"pvc": _XE_TILES, "bmg": _XE_TILES, "lnl": _XE_TILES, "dg2": _DG2_TILES}


def intel_tiles(facts: DeviceFacts) -> IntelTiles:
    return INTEL_TILES.get(facts.arch, _DG2_TILES)


@dataclass
class AttentionPlan:
    """Per-step work split (shared by every layer of a step): query blocks and context splits."""

    qb_req: torch.Tensor  # [n_qb] request of each query block
    qb_start: torch.Tensor  # [n_qb] first token of each query block
    block_q: int
    splits: int
    block_n: int = 64
    num_warps: int = 4
    num_stages: int = 2
    two_phase: bool = True  # unmasked loop over the tiles below the diagonal, then a masked one
    kv_load: str = "block"  # "gather", "block" or "desc" (KvRead); downgraded where a cache can't use it
    facts: DeviceFacts | None = None  # the device planned for (its per-arch tiles and options)


def default_kv_load(facts: DeviceFacts) -> str:
    """How K/V tiles are read unless ``IPEX_PLUGIN_ATTN_KV_LOAD`` says otherwise: tensor
    descriptors where they are TMA (CUDA, compute capability 9+: faster prefill, BENCHMARKS.md),
    plain loads elsewhere, Intel GPUs included (Intel's Triton lowers
    descriptors to 2D block loads, but that path has not been measured on Intel hardware)."""
    chosen = envs.attn_kv_load()
    if chosen:
        return chosen
    if facts.vendor == "cuda" and facts.cuda_capability is not None and facts.cuda_capability[0] >= 9:
        return "desc"
    return "block"


def _compute_units(facts: DeviceFacts) -> int:
    return facts.compute_units if facts.vendor in ("cuda", "xpu") else _DEFAULT_UNITS


def decode_splits(num_query_blocks: int, num_kv_heads: int, facts: DeviceFacts,
                  max_tiles: int | None = None) -> int:
    """Context splits of a decode step: doubled until the grid covers the device twice, at
    most ``_MAX_SPLITS`` and (given ``max_tiles``, the KV tiles of the longest context) no
    more than there are tiles, since a split without one only adds merge work."""
    limit = _MAX_SPLITS if max_tiles is None else max(1, min(_MAX_SPLITS, max_tiles))
    splits = 1
    while num_query_blocks * num_kv_heads * splits < _GRID_PER_UNIT * _compute_units(facts) and splits * 2 <= limit:
        splits *= 2
    return splits


def make_plan(query_start_loc: torch.Tensor, num_reqs: int, max_query_len: int, num_heads: int,
              num_kv_heads: int, splits: int | None = None, block_q: int | None = None,
              seq_lens: torch.Tensor | None = None, facts: DeviceFacts | None = None, head_size: int | None = None,
              max_seq_len: int | None = None, **tuning) -> AttentionPlan:
    """``tuning``: ``block_n``, ``num_warps``, ``num_stages``, ``kv_load``, ``two_phase``
    (defaults in AttentionPlan). ``facts``: the device planned for (default: that of
    ``query_start_loc``). ``head_size``: on Intel GPUs heads above 128 wide take smaller
    query tiles (None: treated as at most 128). ``max_seq_len``: the longest context of the
    step (vLLM's metadata has it on the host); decode splits never outnumber its KV tiles, and
    on CUDA a long prefill or one over a long cached prefix takes larger query tiles.

    With ``seq_lens``, query blocks are ordered by how many KV positions they attend to,
    longest first: causal prefill blocks differ in work by up to the sequence length, and
    launching the long ones last leaves the GPU idle behind a few stragglers.
    """
    group = num_heads // num_kv_heads
    device = query_start_loc.device
    facts = facts or device_facts(device)
    tuning = {"kv_load": default_kv_load(facts), **tuning}
    if facts.is_intel:
        tiles = intel_tiles(facts)
        wide = head_size is not None and triton.next_power_of_2(head_size) > 128
        if max_query_len > 1 and wide:
            rows = tiles.wide_rows
            tuning = {"block_n": tiles.wide_block_n, "num_warps": tiles.wide_warps, "num_stages": 2, **tuning}
            if block_q is None:
                block_q = max(1, rows // group)
        elif max_query_len > 1:
            rows = tiles.rows
            tuning = {"block_n": tiles.block_n, "num_warps": tiles.warps, "num_stages": tiles.stages, **tuning}
            if block_q is None:
                block_q = max(1, rows // group)
        else:
            rows = group
            tuning = {"block_n": tiles.decode_block_n, "num_warps": tiles.decode_warps, "num_stages": 2, **tuning}
    elif max_query_len >= 128 and max_seq_len is not None and (
            max_seq_len >= LONG_PREFILL or max_seq_len - max_query_len >= LONG_CACHED_PREFIX):
        # Long prefill, or a chunk over a long cached prefix: 128-row query tiles read each KV
        # tile for twice the rows, which the long context repays; descriptors' deeper pipeline
        # then costs more than it hides.
        rows = 128
        tuning = {"block_n": 64, "num_warps": 4, "num_stages": 2 if tuning["kv_load"] == "desc" else 3, **tuning}
    elif max_query_len >= 128:
        # Shorter prefill: 64-row query tiles give the grid twice the programs, 3 stages hide
        # the KV reads (NVIDIA sweeps, BENCHMARKS.md).
        rows = 64
        tuning = {"block_n": 64, "num_warps": 4, "num_stages": 3, **tuning}
    else:
        rows = 64
    if block_q is None:
        block_q = max(1, min(triton.next_power_of_2(max(max_query_len, 1)), max(1, rows // group)))
    qsl = query_start_loc[: num_reqs + 1].to(torch.int64)
    blocks_per_req = (qsl[1:] - qsl[:-1] + block_q - 1) // block_q
    qb_req = torch.repeat_interleave(torch.arange(num_reqs, device=device), blocks_per_req)
    first_block = torch.cumsum(blocks_per_req, 0) - blocks_per_req
    idx_in_req = torch.arange(qb_req.shape[0], device=device) - first_block[qb_req]
    qb_start = qsl[:-1][qb_req] + idx_in_req * block_q
    if seq_lens is not None and max_query_len > 1:
        q_len = (qsl[1:] - qsl[:-1])[qb_req]
        kv_end = seq_lens[:num_reqs].to(torch.int64)[qb_req] - q_len + torch.minimum((idx_in_req + 1) * block_q, q_len)
        order = torch.argsort(kv_end, descending=True, stable=True)
        qb_req, qb_start = qb_req[order], qb_start[order]
    if splits is None:
        splits = 1
        if max_query_len == 1:  # decode: split long contexts until the grid covers the GPU
            max_tiles = None if max_seq_len is None else -(-max_seq_len // tuning.get("block_n", AttentionPlan.block_n))
            splits = decode_splits(qb_req.shape[0], num_kv_heads, facts, max_tiles)
    tuning = {"two_phase": max_query_len > 1, **tuning}
    return AttentionPlan(qb_req.to(torch.int32), qb_start.to(torch.int32), block_q, splits, facts=facts, **tuning)


def paged_block_n(plan: AttentionPlan, head_size: int) -> int:
    """The KV tile of the paged kernel: the plan's, at most 32 positions above head size 128
    (on Intel GPUs the architecture's tiles for narrow and wide heads)."""
    dp = triton.next_power_of_2(head_size)
    if plan.facts is not None and plan.facts.is_intel:
        tiles = intel_tiles(plan.facts)
        if dp > 128:
            return min(plan.block_n, tiles.wide_block_n)
        if dp <= 64:
            return min(plan.block_n, tiles.decode_block_n_d64 if not plan.two_phase else tiles.block_n_d64)
        return plan.block_n
    return plan.block_n if dp <= 128 else min(plan.block_n, 32)


def kv_read(plan: AttentionPlan, key_cache: torch.Tensor, value_cache: torch.Tensor, block_n: int) -> KvRead:
    """The K/V read these caches allow. One block lookup per tile needs tiles inside a block.
    Descriptors also need a power-of-two head size and caches a descriptor can cover
    (``descriptors.caches_describable``)."""
    block_size, d = key_cache.shape[1], key_cache.shape[3]
    if plan.kv_load == "gather" or block_size % block_n:
        return KvRead.GATHER
    if plan.kv_load == "desc" and d == triton.next_power_of_2(d) and caches_describable(key_cache, value_cache):
        return KvRead.DESC
    return KvRead.BLOCK


def paged_config(plan: AttentionPlan, num_heads: int, key_cache: torch.Tensor, value_cache: torch.Tensor,
                 key: torch.Tensor | None, value: torch.Tensor | None, sliding_window: int | None,
                 logits_soft_cap: float | None, causal: bool, mm_ranges: int = 0,
                 clamp_spans: bool = False) -> LaunchConfig:
    """The paged kernel's launch for a plan and these tensors (their layout only: shapes,
    strides, alignment; no data is read). ``KV_LOAD == DESC`` means the kernel takes
    descriptors over the caches, ``NEW_KV`` descriptors over ``key``/``value`` as well.
    ``mm_ranges``: bidirectional spans per request (``MM_RANGES``, 0: none); ``clamp_spans``: they
    stay inside the sliding window (``MM_CLAMP``)."""
    num_kv, d = key_cache.shape[2], key_cache.shape[3]
    group = num_heads // num_kv
    block_n = paged_block_n(plan, d)
    read = kv_read(plan, key_cache, value_cache, block_n)
    # new-token tiles are read only by the unmasked loop, which a sliding window skips
    read_new = read == KvRead.DESC and plan.two_phase and not sliding_window
    new_kv = read_new and new_kv_describable(key, value, key_cache)
    block_q, warps, stages, options = plan.block_q, plan.num_warps, plan.num_stages, {}
    halves, score_fma, cols = 1, 0, 1
    if plan.facts is not None and plan.facts.is_intel:
        tiles = intel_tiles(plan.facts)
        options = dict(tiles.options)
        if triton.next_power_of_2(d) > 128 and read != KvRead.DESC:  # descriptors cover whole heads
            if plan.two_phase:
                halves, cols = 2, tiles.wide_cols
            else:
                score_fma = tiles.wide_decode_score_fma
    return LaunchConfig(
        dict(GROUP=group, BLOCK_Q=block_q, ROWS=max(16, triton.next_power_of_2(block_q * group)),
             BLOCK_N=block_n, D=d, DP=triton.next_power_of_2(d), SPLIT=plan.splits > 1,
             USE_CAP=bool(logits_soft_cap), USE_WINDOW=bool(sliding_window), CAUSAL=causal,
             TWO_PHASE=plan.two_phase, KV_LOAD=int(read), TAIL_KV_LOAD=int(read), NEW_KV=new_kv, HALVES=halves,
             SCORE_FMA=score_fma, MM_RANGES=mm_ranges,
             MM_CLAMP=bool(mm_ranges and clamp_spans and sliding_window), COLS=cols),
        num_warps=warps, num_stages=stages, options=options,
    )


def _small_kernel_options(facts: DeviceFacts | None) -> dict[str, int | str]:
    return {"grf_mode": "small"} if facts is not None and facts.is_intel else {}


def merge_config(splits: int, head_size: int, facts: DeviceFacts | None = None) -> LaunchConfig:
    """The split merge's launch: one compilation for every split count up to the most a plan
    makes (the count is a run-time argument). On CUDA one warp reads up to ``_CUDA_MERGE_TILE``
    partial values per step (the merge is latency: fewer, wider steps; BENCHMARKS.md); elsewhere
    ``_MERGE_CHUNK`` splits per step with the backend's default warps (Intel: within its
    registers at head 256)."""
    sp, dp = max(_MAX_SPLITS, triton.next_power_of_2(splits)), triton.next_power_of_2(head_size)
    if facts is not None and facts.vendor == "cuda":
        chunk = max(1, min(sp, _CUDA_MERGE_TILE // dp))
        return LaunchConfig(dict(SP=sp, SC=chunk, D=head_size, DP=dp), num_warps=1)
    return LaunchConfig(dict(SP=sp, SC=_MERGE_CHUNK, D=head_size, DP=dp), options=_small_kernel_options(facts))


def kv_write_config(num_kv_heads: int, head_size: int, facts: DeviceFacts | None = None) -> LaunchConfig:
    """The KV write's launch (backend default warps and stages)."""
    return LaunchConfig(dict(H=num_kv_heads, HP=triton.next_power_of_2(num_kv_heads), D=head_size,
                             DP=triton.next_power_of_2(head_size)), options=_small_kernel_options(facts))
