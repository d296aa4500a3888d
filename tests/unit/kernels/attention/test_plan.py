"""Host planning of the attention kernels from DeviceFacts: the default K/V read and its
override, context splits per device, and ``launch_configs`` (what the Intel compile check
builds) for every Intel target and for the H100 the tile shapes were tuned on."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tests.triton_interpreter import import_interpreted

launch = import_interpreted("vllm_ipex_plugin.kernels.attention.launch")

from vllm_ipex_plugin.kernels.attention.batch import KvRead  # noqa: E402
from vllm_ipex_plugin.kernels.attention.plan import default_kv_load, intel_tiles, make_plan, merge_config  # noqa: E402
from vllm_ipex_plugin.kernels.common.device import CPU_FACTS, INTEL_TARGETS, DeviceFacts  # noqa: E402

H100 = DeviceFacts("NVIDIA H100 80GB HBM3", "cuda", "sm90", 132, has_dpas=True, has_2d_block_io=True,
                   cuda_capability=(9, 0))
A100 = dataclasses.replace(H100, name="NVIDIA A100", arch="sm80", compute_units=108, cuda_capability=(8, 0))
PACKAGE = "vllm_ipex_plugin.kernels.attention"
LLAMA_8B = dict(head_size=128, num_heads=32, num_kv_heads=8, block_size=64, dtype=torch.float16)


@pytest.fixture(autouse=True)
def _no_kv_load_override(monkeypatch):
    monkeypatch.delenv("IPEX_PLUGIN_ATTN_KV_LOAD", raising=False)


def test_kv_load_default_per_device_and_override(monkeypatch):
    """Descriptors on Hopper, plain loads elsewhere (Intel GPUs included), unless
    IPEX_PLUGIN_ATTN_KV_LOAD names a read."""
    assert default_kv_load(H100) == "desc"
    assert default_kv_load(A100) == "block"
    assert default_kv_load(CPU_FACTS) == "block"
    assert {default_kv_load(f) for f in INTEL_TARGETS.values()} == {"block"}
    monkeypatch.setenv("IPEX_PLUGIN_ATTN_KV_LOAD", "DESC")
    assert default_kv_load(CPU_FACTS) == "desc"
    assert make_plan(torch.tensor([0, 1], dtype=torch.int32), 1, 1, 4, 2).kv_load == "desc"


def test_kv_load_env_rejects_unknown_reads(monkeypatch):
    monkeypatch.setenv("IPEX_PLUGIN_ATTN_KV_LOAD", "tma")
    with pytest.raises(ValueError, match=r"IPEX_PLUGIN_ATTN_KV_LOAD='tma' is not one of gather, block, desc; "
                                         r"unset it for the default\."):
        default_kv_load(CPU_FACTS)


def test_decode_splits_fill_the_device():
    """Decode splits the context until the grid reaches twice the compute units (SMs on CUDA,
    Xe cores on Intel; 64 where none are known), at most 32, and given the step's longest
    context never more splits than it has 64-position KV tiles."""
    qsl = torch.arange(3, dtype=torch.int32)  # two decode requests
    assert make_plan(qsl, 2, 1, 32, 8, facts=H100).splits == 32  # 2 * 8 * 16 = 256 < 264
    assert make_plan(qsl, 2, 1, 32, 8, facts=H100, max_seq_len=16384).splits == 32
    assert make_plan(qsl, 2, 1, 32, 8, facts=H100, max_seq_len=1024).splits == 16  # 16 tiles
    assert make_plan(qsl, 2, 1, 32, 8, facts=H100, max_seq_len=129).splits == 2  # 3 tiles: 2 splits
    assert make_plan(qsl, 2, 1, 32, 8, facts=H100, max_seq_len=64).splits == 1
    assert make_plan(qsl, 2, 1, 32, 8, facts=H100, max_seq_len=1024, block_n=32).splits == 32
    assert make_plan(qsl, 2, 1, 32, 8, facts=A100).splits == 16  # 2 * 8 * 8 = 128 < 216
    assert make_plan(qsl, 2, 1, 32, 8, facts=CPU_FACTS).splits == 8  # 2 * 8 * 8 = 128 = 2 * 64
    assert make_plan(qsl, 2, 1, 32, 8, facts=INTEL_TARGETS["pvc"]).splits == 8  # 64 Xe cores
    assert make_plan(qsl, 2, 1, 32, 8, facts=INTEL_TARGETS["dg2"]).splits == 4  # 32: 2 * 8 * 4 = 64
    assert make_plan(qsl, 2, 1, 32, 8, facts=INTEL_TARGETS["bmg"]).splits == 4  # 20: 2 * 8 * 2 = 32 < 40
    assert make_plan(torch.tensor([0, 5], dtype=torch.int32), 1, 5, 32, 8, facts=H100).splits == 1


def _by_case(launches):
    return {case: launch_ for launch_ in launches for case in launch_.cases}


@pytest.mark.parametrize("arch", sorted(INTEL_TARGETS))
def test_launch_configs_cover_every_step_on_intel(arch):
    """Each Intel target: KV write, decode with and without a context split (the split count is
    a run-time argument, so one compilation each, and one merge), one tile for every step with
    more than one new token (mixed and prefill alike), plain loads one lookup per tile (block
    size 64), the architecture's GRF mode and lane count."""
    launches = launch.launch_configs(INTEL_TARGETS[arch], **LLAMA_8B)
    by_case = _by_case(launches)
    names = {(x.name, x.module, x.function) for x in launches}
    assert names == {("write_kv", f"{PACKAGE}.kv_write", "write_kv_kernel"),
                     ("paged_attention", f"{PACKAGE}.paged", "paged_attn_kernel"),
                     ("merge_splits", f"{PACKAGE}.merge", "merge_splits_kernel")}
    paged = [x for x in launches if x.name == "paged_attention"]
    assert {x.constexprs["KV_LOAD"] for x in paged} == {KvRead.BLOCK} and not any(x.constexprs["NEW_KV"] for x in paged)
    assert sorted(x.constexprs["SPLIT"] for x in paged if not x.constexprs["TWO_PHASE"]) == [False, True]
    assert len([x for x in paged if x.constexprs["TWO_PHASE"]]) == 1
    assert len([x for x in launches if x.name == "merge_splits"]) == 1
    prefill = by_case["prefill, 128+ new tokens"]
    assert by_case["mixed, up to 2 new tokens"] is prefill
    tiles = intel_tiles(INTEL_TARGETS[arch])
    assert prefill.constexprs["ROWS"] == tiles.rows and prefill.constexprs["BLOCK_Q"] == tiles.rows // 4
    assert (prefill.constexprs["BLOCK_N"], prefill.num_warps, prefill.num_stages) == (tiles.block_n, tiles.warps,
                                                                                       tiles.stages)
    assert prefill.options == tiles.options
    assert by_case["every step"].constexprs == {"H": 8, "HP": 8, "D": 128, "DP": 128}
    assert by_case["every step"].num_warps is None  # backend default, as launched
    assert by_case["every step"].options == {"grf_mode": "small"}
    keys = [(x.name, tuple(sorted(x.constexprs.items())), x.num_warps, x.num_stages) for x in launches]
    assert len(keys) == len(set(keys))  # each compilation listed once


def test_cuda_plans_keep_the_tuned_tiles():
    """On CUDA every step shape keeps its own query block (the NVIDIA sweeps' tiles: 64 rows for
    prefill), and the context split is a run-time argument there too."""
    by_case = _by_case(launch.launch_configs(H100, **LLAMA_8B))
    prefill = by_case["prefill, 128+ new tokens"]
    assert (prefill.constexprs["BLOCK_Q"], prefill.constexprs["ROWS"], prefill.constexprs["BLOCK_N"]) == (16, 64, 64)
    long = by_case["prefill, 8k+ context"]  # 128-row tiles from an 8k context on
    assert (long.constexprs["BLOCK_Q"], long.constexprs["ROWS"], long.constexprs["BLOCK_N"]) == (32, 128, 64)
    mixed = by_case["mixed, up to 64 new tokens"]
    assert (mixed.constexprs["BLOCK_Q"], mixed.num_warps, mixed.num_stages) == (16, 4, 2)
    assert not prefill.options and not by_case["every step"].options


@pytest.mark.parametrize("new,context,block_q", [(4096, 4096, 16), (1024, 2048, 16), (1024, 3072, 32),
                                                   (2048, 4096, 32), (8192, 8192, 32), (128, 8192, 32)])
def test_cuda_prefill_takes_larger_tiles_over_long_contexts(new, context, block_q):
    """GQA 32/8 on CUDA: 16-token query blocks (64 rows) for a fresh prompt under 8k positions or a
    cached prefix under 2k; 32-token blocks (128 rows) from either."""
    qsl = torch.tensor([0, new], dtype=torch.int32)
    plan = make_plan(qsl, 1, new, 32, 8, seq_lens=torch.tensor([context], dtype=torch.int32), facts=H100,
                     max_seq_len=context)
    assert plan.block_q == block_q


@pytest.mark.parametrize("head_size,chunk", [(64, 32), (128, 32), (256, 16)])
def test_split_merge_on_cuda_is_one_warp_over_wide_chunks(head_size, chunk):
    """CUDA: one warp, up to 4096 partial values per step; Intel: 8 splits per step, its register
    mode, the backend's warps (the merge's registers at head 256 stay within DG2's budget)."""
    cuda = merge_config(32, head_size, H100)
    assert (cuda.constexprs["SC"], cuda.num_warps, cuda.options) == (chunk, 1, {})
    intel = merge_config(32, head_size, INTEL_TARGETS["dg2"])
    assert (intel.constexprs["SC"], intel.num_warps, intel.options) == (8, None, {"grf_mode": "small"})


def test_launch_configs_on_hopper_read_through_descriptors():
    """The tuned values: descriptors with the new tokens from vLLM's key/value views, 4 warps
    and 3 stages for prefill (2 for an 8k+ context's larger tiles); a sliding window keeps the
    new tokens in the cache."""
    by_case = _by_case(launch.launch_configs(H100, **LLAMA_8B))
    prefill = by_case["prefill, 128+ new tokens"]
    assert prefill.constexprs["KV_LOAD"] == KvRead.DESC and prefill.constexprs["NEW_KV"]
    assert (prefill.num_warps, prefill.num_stages) == (4, 3)
    assert by_case["prefill, 8k+ context"].num_stages == 2
    windowed = _by_case(launch.launch_configs(H100, **LLAMA_8B, sliding_window=4096))["prefill, 128+ new tokens"]
    # the window starts at a tile boundary, so its tiles keep the block read
    assert not windowed.constexprs["NEW_KV"] and windowed.constexprs["TAIL_KV_LOAD"] == KvRead.DESC
    assert windowed.constexprs["USE_WINDOW"]
    # head size 80: padded to 128, no descriptors (power-of-two head sizes only); 256: 32-position tiles
    odd = _by_case(launch.launch_configs(H100, **{**LLAMA_8B, "head_size": 80}))["prefill, 128+ new tokens"]
    assert (odd.constexprs["DP"], odd.constexprs["KV_LOAD"]) == (128, KvRead.BLOCK)
    big = _by_case(launch.launch_configs(H100, **{**LLAMA_8B, "head_size": 256}))["prefill, 128+ new tokens"]
    assert big.constexprs["BLOCK_N"] == 32


def test_launch_configs_with_small_blocks_gather():
    """Blocks smaller than the 64-position tile: per-position lookups, whatever the device."""
    launches = launch.launch_configs(H100, **{**LLAMA_8B, "block_size": 16})
    assert {x.constexprs["KV_LOAD"] for x in launches if x.name == "paged_attention"} == {KvRead.GATHER}
