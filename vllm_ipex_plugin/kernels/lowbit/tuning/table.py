"""Launch configurations of the low-bit kernels: tuned per device and shape, cached on disk.

Why a table and not ``triton.autotune``: autotuning at every start costs minutes on a
large model (every shape x every batch bucket) and re-times on each process of a
tensor-parallel group. Here a configuration is tuned once per (device name, Triton
version, kernel, format, batch bucket, K, N) by
``python -m vllm_ipex_plugin.kernels.lowbit.tuning.tuner`` (or on first use with
``IPEX_PLUGIN_LOWBIT_AUTOTUNE=1``, done by ``matmul.py``), checked for correctness on the
device, and stored as JSON named by the device (``<device name slug>.json``).

Lookup order, first hit wins:

1. the user cache, ``$IPEX_PLUGIN_CACHE/tuning/<device>.json`` (default
   ``~/.cache/vllm_ipex_plugin``), written by the tuner;
2. the table shipped in ``tuning/shipped/<device>.json``;
3. :func:`heuristic_config`.

Entries from another Triton version are ignored: a configuration that compiled correctly
under one version is not trusted under another (Triton 3.6 miscompiled some GEMV tiles on
the H100). Every function here takes a :class:`DeviceFacts`, not a live device, so the
configs for a card that is not present (``INTEL_TARGETS``) come out of the same code.
This module imports no kernel.
"""

from __future__ import annotations

import bisect
import functools
import json
import re
import sys
from pathlib import Path

import triton

from vllm_ipex_plugin import envs
from vllm_ipex_plugin.kernels.common.device import DeviceFacts
from vllm_ipex_plugin.kernels.lowbit.formats import FORMATS
from vllm_ipex_plugin.kernels.lowbit.tuning.intel import intel_config

SHIPPED_DIR = Path(__file__).with_name("shipped")
GEMV_MAX_M = 1  # batches up to this many rows take the GEMV
GEMM_BUCKETS = (16, 32, 64, 128, 256, 512, 1024)
DENSE_MIN_M = 129  # untuned shapes: from here on, dequantize once + dense matmul
# Triton 3.6 on the H100 returned wrong GEMV results for 2, 4 and 8 rows per program with
# several warp counts (checked config by config, BENCHMARKS.md); 1 and 16 rows were right in
# every case, so only those are accepted (the tuner also drops any config it finds wrong).
GEMV_SAFE_ROWS = (1, 16)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()


def user_cache_path(facts: DeviceFacts) -> Path:
    return Path(envs.cache_root()) / "tuning" / f"{_slug(facts.name)}.json"


def m_bucket(kernel: str, m: int) -> int:
    """The batch bucket a GEMV (its own ``m``) or GEMM batch of ``m`` rows is tuned and planned for."""
    if kernel == "gemv":
        return m
    return GEMM_BUCKETS[min(bisect.bisect_left(GEMM_BUCKETS, m), len(GEMM_BUCKETS) - 1)]


def entry_key(kernel: str, fmt: str, m: int, n: int, k: int) -> str:
    return f"{kernel}|{fmt}|m{m_bucket(kernel, m)}|k{k}|n{n}"


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if data.get("triton") != triton.__version__:
        return {}
    return data.get("configs", {})


@functools.cache
def _table(slug: str, user_path: str) -> dict:
    table = _read(SHIPPED_DIR / f"{slug}.json")
    table.update(_read(Path(user_path)))
    return table


def tuned_table(facts: DeviceFacts) -> dict:
    return _table(_slug(facts.name), str(user_cache_path(facts)))


def clear_caches() -> None:
    """Forget loaded tables and looked-up configurations (after a save, or a new cache dir)."""
    _table.cache_clear()
    lookup.cache_clear()
    _tuned_dense_min_m.cache_clear()


def save_entries(facts: DeviceFacts, entries: dict, path: Path | None = None) -> Path:
    """Merge ``entries`` into the device's cache file (the user cache unless ``path``)."""
    path = path or user_cache_path(facts)
    path.parent.mkdir(parents=True, exist_ok=True)
    configs = _read(path)
    configs.update(entries)
    payload = {"device": facts.name, "triton": triton.__version__, "configs": configs}
    path.write_text(json.dumps(payload, indent=1, sort_keys=True))
    clear_caches()
    return path


def heuristic_config(kernel: str, m: int, n: int, k: int, facts: DeviceFacts) -> dict:
    """Starting points from the H100 sweeps (BENCHMARKS.md), used when nothing is tuned.

    The one device fact they use is ``compute_units`` (SMs, Xe cores): split K until the grid
    covers the card. Intel GPUs take their architecture's tiles (``tuning/intel.py``).
    """
    if facts.is_intel:
        return intel_config(kernel, m, n, k, facts)
    sms = facts.compute_units
    if kernel == "gemv":
        bk = 1024 if k <= 4096 else 2048
        split = 1
        while n * split < 4 * sms and k // (split * 2) >= 2 * bk:
            split *= 2
        return {"BN": 1, "BK": bk, "SPLIT_K": split, "num_warps": 2 if bk == 1024 else 4, "num_stages": 2}
    bm = 16 if m <= 16 else 64
    bn = 64
    bk = 128 if k <= 4096 or bm == 64 else 256
    tiles = triton.cdiv(m, bm) * triton.cdiv(n, bn)
    split = 1
    while tiles * split < sms and split < 4 and k // (split * 2) >= 2 * bk:
        split *= 2
    return {"BM": bm, "BN": bn, "BK": bk, "SPLIT_K": split, "num_warps": 8 if bm == 64 and split > 1 else 4,
            "num_stages": 3}


@functools.lru_cache(maxsize=16384)
def lookup(kernel: str, fmt: str, bucket: int, n: int, k: int, facts: DeviceFacts) -> tuple[dict, bool]:
    """(configuration, whether it came from a table) per batch bucket (``fmt``: a canonical name).

    Cached: the layers' matmul plans and direct launcher calls look the same keys up again.
    """
    key = entry_key(kernel, fmt, bucket, n, k)  # a bucket is its own bucket
    table = tuned_table(facts)
    if key in table:
        return table[key], True
    return heuristic_config(kernel, bucket, n, k, facts), False


def config_for(kernel: str, fmt: str, m: int, n: int, k: int, facts: DeviceFacts) -> dict:
    """The configuration of ``kernel`` for an ``m``-row batch (its bucket's entry or the heuristics)."""
    return lookup(kernel, fmt, m_bucket(kernel, m), n, k, facts)[0]


def dense_from(fmt: str, gemm_entry: dict, facts: DeviceFacts) -> int:
    """The smallest batch of a GEMM bucket that takes the dense path, given the bucket's entry.

    A tuned entry records which of the fused GEMM and the dense path was faster for its
    batch bucket (all of it: 0 or never); untuned shapes switch to dense at ``dense_min_m``;
    dense-only formats at two rows.
    """
    if "path" in gemm_entry and not FORMATS[fmt].dense_only:
        return 0 if gemm_entry["path"] == "dense" else sys.maxsize
    return dense_min_m(fmt, facts)


def choose_path(fmt: str, m: int, n: int, k: int, facts: DeviceFacts) -> str:
    """``gemv`` (up to ``GEMV_MAX_M`` rows), ``gemm`` (fused Triton GEMM) or ``dense``
    (dequantize + dense matmul); see :func:`dense_from`."""
    if m <= GEMV_MAX_M:
        return "gemv"
    entry = {} if FORMATS[fmt].dense_only else config_for("gemm", fmt, m, n, k, facts)
    return "dense" if m >= dense_from(fmt, entry, facts) else "gemm"


def gemm_config(fmt: str, m: int, n: int, k: int, facts: DeviceFacts) -> dict:
    """Tile configuration of the fused GEMM (the heuristics for ``m`` where the table chose dense)."""
    cfg = config_for("gemm", fmt, m, n, k, facts)
    return heuristic_config("gemm", m, n, k, facts) if cfg.get("path") == "dense" else cfg


def dense_min_m(fmt: str, facts: DeviceFacts) -> int:
    if FORMATS[fmt].dense_only:
        return GEMV_MAX_M + 1
    return _tuned_dense_min_m(fmt, facts)


@functools.lru_cache(maxsize=256)
def _tuned_dense_min_m(fmt: str, facts: DeviceFacts) -> int:
    return int(tuned_table(facts).get(f"dense_min_m|{fmt}", DENSE_MIN_M))
