"""Launch configurations of the low-bit kernels: tuned per device and shape, cached on disk.

Why a table and not ``triton.autotune``: autotuning at every start costs minutes on a
large model (every shape x every batch bucket) and re-times on each process of a
tensor-parallel group. Here a configuration is tuned once per (device name, Triton
version, kernel, format, batch bucket, K, N) by ``python -m vllm_ipex_plugin.kernels.lowbit_tune``
(or on first use with ``IPEX_PLUGIN_LOWBIT_AUTOTUNE=1``), checked for correctness on the
device, and stored as JSON. Lookup order: the user cache
(``$IPEX_PLUGIN_CACHE/tuning`` or ``~/.cache/vllm_ipex_plugin/tuning``), then tables
shipped in ``kernels/tuned/``, then the heuristics below. Entries from another Triton
version are ignored: a configuration that compiled correctly under one version is not
trusted under another (Triton 3.6 miscompiled some GEMV tiles on the H100).
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path

import torch
import triton

AUTOTUNE_ENV = "IPEX_PLUGIN_LOWBIT_AUTOTUNE"
CACHE_ENV = "IPEX_PLUGIN_CACHE"
SHIPPED_DIR = Path(__file__).with_name("tuned")
GEMM_BUCKETS = (16, 32, 64, 128, 256, 512, 1024)
DENSE_MIN_M = 129  # untuned shapes: from here on, dequantize once + dense matmul
DENSE_ONLY = {"nf4"}  # codebook gathers stall the dot main loop: dense for every M > 1
GEMV_SAFE_ROWS = (1, 16)  # rows per GEMV program that compiled correctly everywhere (lowbit_triton)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "xpu":
        return torch.xpu.get_device_name(device)
    return device.type


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()


def user_cache_path(device: torch.device) -> Path:
    root = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "vllm_ipex_plugin")
    return Path(root) / "tuning" / f"{_slug(device_name(device))}.json"


def m_bucket(kernel: str, m: int) -> int:
    if kernel == "gemv":
        return m
    return next((b for b in GEMM_BUCKETS if m <= b), GEMM_BUCKETS[-1])


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


def tuned_table(device: torch.device) -> dict:
    return _table(_slug(device_name(device)), str(user_cache_path(device)))


def clear_caches() -> None:
    """Forget loaded tables and looked-up configurations (after a save, or a new cache dir)."""
    _table.cache_clear()
    _lookup.cache_clear()
    _tuned_dense_min_m.cache_clear()


def save_entries(device: torch.device, entries: dict, path: Path | None = None) -> Path:
    """Merge ``entries`` into the device's cache file (the user cache unless ``path``)."""
    path = path or user_cache_path(device)
    path.parent.mkdir(parents=True, exist_ok=True)
    configs = _read(path)
    configs.update(entries)
    payload = {"device": device_name(device), "triton": triton.__version__, "configs": configs}
    path.write_text(json.dumps(payload, indent=1, sort_keys=True))
    clear_caches()
    return path


def _num_sms(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).multi_processor_count
    if device.type == "xpu":
        return getattr(torch.xpu.get_device_properties(device), "gpu_subslice_count", 64)
    return 64


def heuristic_config(kernel: str, m: int, n: int, k: int, device: torch.device) -> dict:
    """Starting points from the H100 sweeps (BENCHMARKS.md), used when nothing is tuned."""
    sms = _num_sms(device)
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


def _capturing(device: torch.device) -> bool:
    """Inside a graph capture nothing may be timed or synchronized: use the heuristics."""
    accel = getattr(torch, device.type, None)
    check = getattr(accel, "is_current_stream_capturing", None)
    return bool(check()) if check is not None else False


@functools.lru_cache(maxsize=16384)
def _lookup(kernel: str, fmt: str, bucket: int, n: int, k: int, device: torch.device) -> tuple[dict, bool]:
    """(configuration, whether it came from a table) per batch bucket.

    Cached because it runs for every linear layer of every step: uncached, the lookup
    (device name, cache path, key) cost tens of microseconds per call in eager mode.
    """
    key = entry_key(kernel, fmt, bucket, n, k)  # a bucket is its own bucket
    table = tuned_table(device)
    if key in table:
        return table[key], True
    return heuristic_config(kernel, bucket, n, k, device), False


def _autotune_enabled() -> bool:
    return os.environ.get(AUTOTUNE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def config_for(kernel: str, fmt: str, m: int, n: int, k: int, device: torch.device) -> dict:
    bucket = m_bucket(kernel, m)
    cfg, tuned = _lookup(kernel, fmt, bucket, n, k, device)
    if not tuned and device.type != "cpu" and _autotune_enabled() and not _capturing(device):
        from vllm_ipex_plugin.kernels.lowbit_tune import tune_and_save

        tune_and_save(kernel, fmt, bucket, n, k, device)  # saves, then clears the caches
        cfg, _ = _lookup(kernel, fmt, bucket, n, k, device)
    return cfg


def choose_path(fmt: str, m: int, n: int, k: int, device: torch.device) -> str:
    """``gemv`` (one row), ``gemm`` (fused Triton GEMM) or ``dense`` (dequantize + dense matmul).

    A tuned entry records which of the fused GEMM and the dense path was faster for its
    batch bucket; untuned shapes switch to dense at ``dense_min_m``.
    """
    if m <= 1:
        return "gemv"
    if fmt in DENSE_ONLY:
        return "dense"
    cfg = config_for("gemm", fmt, m, n, k, device)
    if "path" in cfg:
        return cfg["path"]
    return "dense" if m >= dense_min_m(fmt, device) else "gemm"


def gemm_config(fmt: str, m: int, n: int, k: int, device: torch.device) -> dict:
    """Tile configuration of the fused GEMM (the heuristics where the table chose dense)."""
    cfg = config_for("gemm", fmt, m, n, k, device)
    return heuristic_config("gemm", m, n, k, device) if cfg.get("path") == "dense" else cfg


def dense_min_m(fmt: str, device: torch.device) -> int:
    if fmt in DENSE_ONLY:
        return 2
    return _tuned_dense_min_m(fmt, device)


@functools.lru_cache(maxsize=256)
def _tuned_dense_min_m(fmt: str, device: torch.device) -> int:
    return int(tuned_table(device).get(f"dense_min_m|{fmt}", DENSE_MIN_M))
