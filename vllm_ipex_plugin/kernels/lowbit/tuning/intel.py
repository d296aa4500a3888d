"""Launch configurations of the low-bit kernels on Intel GPUs, per architecture, untuned shapes.

Chosen with the Intel compile check (``benchmarks/intel_compile.py``: spill bytes, GRF mode
and DPAS use of every configuration on PVC, BMG and DG2; BENCHMARKS.md). Intel runs 16 lanes
per warp (32 by default on DG2), so a lane holds twice an NVIDIA lane's share of a tile: the
H100 tiles spill there. What keeps the accumulators and decoded tiles in registers is
256-register mode with more warps per program (Xe-HPC, Xe2), and on Alchemist, which has no
matrix units in Triton's Intel backend (FMA dots) and half the register file per lane at its
default width, small tiles at 16 lanes per warp. Split-K still grows until the grid covers the
card's Xe cores, as on CUDA.

Imports ``kernels/common`` only.
"""

from __future__ import annotations

from dataclasses import dataclass

from vllm_ipex_plugin.kernels.common.device import DeviceFacts

LARGE_GRF = {"grf_mode": "large"}
SMALL_GRF = {"grf_mode": "small"}
DG2_LANES = {"grf_mode": "large", "threads_per_warp": 16}


@dataclass(frozen=True)
class IntelLowBitTiles:
    """``gemm``: (largest batch bucket, tile) pairs, the first bucket at or above the batch wins."""

    gemv: dict
    gemm: tuple[tuple[int, dict], ...]
    small_kernel: dict  # dequantize and quantize: num_warps and options


_XE = IntelLowBitTiles(
    gemv={"BN": 1, "BK": 1024, "num_warps": 4, "num_stages": 2, "options": SMALL_GRF},
    gemm=((16, {"BM": 16, "BN": 64, "BK": 128, "num_warps": 16, "num_stages": 3, "options": LARGE_GRF}),
          (64, {"BM": 64, "BN": 128, "BK": 64, "num_warps": 16, "num_stages": 3, "options": LARGE_GRF}),
          (1 << 30, {"BM": 128, "BN": 128, "BK": 64, "num_warps": 16, "num_stages": 3, "options": LARGE_GRF})),
    small_kernel={"num_warps": 8, "options": SMALL_GRF},
)
_DG2 = IntelLowBitTiles(
    gemv={"BN": 1, "BK": 1024, "num_warps": 8, "num_stages": 2, "options": LARGE_GRF},
    gemm=((16, {"BM": 16, "BN": 64, "BK": 64, "num_warps": 32, "num_stages": 2, "options": LARGE_GRF}),
          (1 << 30, {"BM": 32, "BN": 32, "BK": 64, "num_warps": 32, "num_stages": 2, "options": DG2_LANES})),
    small_kernel={"num_warps": 8, "options": DG2_LANES},
)
# Lunar Lake's Xe2 takes Battlemage's tiles; unknown Intel GPUs (and Meteor Lake's iGPU,
# which has no matrix units) the conservative Alchemist ones.
INTEL_LOWBIT_TILES: dict[str, IntelLowBitTiles] = {"pvc": _XE, "bmg": _XE, "lnl": _XE, "dg2": _DG2}


# (format, BM, BN) tiles of the fused GEMM whose block-pointer activation read (``X_BLOCK_IO``) spills
# on PVC in the compile check (fp6's decode holds its high plane too: 320 bytes); they keep plain loads.
BLOCK_IO_SPILLS = frozenset({("fp6", 128, 128)})


def block_io_fits(fmt: str, bm: int, bn: int) -> bool:
    """Whether the fused GEMM's ``(bm, bn)`` tile of ``fmt`` may read its activations through a block pointer."""
    return (fmt, bm, bn) not in BLOCK_IO_SPILLS


def intel_tiles(facts: DeviceFacts) -> IntelLowBitTiles:
    return INTEL_LOWBIT_TILES.get(facts.arch, _DG2)


def intel_config(kernel: str, m: int, n: int, k: int, facts: DeviceFacts) -> dict:
    """The untuned configuration of ``gemv`` or ``gemm`` for an ``m``-row batch (its bucket)."""
    tiles = intel_tiles(facts)
    units = facts.compute_units
    if kernel == "gemv":
        cfg = dict(tiles.gemv)
        split = 1
        while n * split < 4 * units and k // (split * 2) >= 2 * cfg["BK"]:
            split *= 2
        return {**cfg, "SPLIT_K": split}
    cfg = dict(next(tile for bucket, tile in tiles.gemm if m <= bucket))
    blocks = -(-m // cfg["BM"]) * -(-n // cfg["BN"])
    split = 1
    while blocks * split < units and split < 4 and k // (split * 2) >= 2 * cfg["BK"]:
        split *= 2
    return {**cfg, "SPLIT_K": split}


def small_kernel_launch(facts: DeviceFacts) -> tuple[int | None, dict]:
    """(num_warps, options) of the dequantize and quantize kernels: ``(None, {})`` off Intel
    (the caller's own warps)."""
    if not facts.is_intel:
        return None, {}
    small = intel_tiles(facts).small_kernel
    return small["num_warps"], dict(small["options"])
