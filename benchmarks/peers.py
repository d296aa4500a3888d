"""Peer implementations timed beside the plugin's kernels in the same run (CUDA only).

- torch's tinygemm int4 op (``_convert_weight_to_int4pack`` + ``_weight_int4pack_mm``, bf16
  activations, asymmetric groups of 64: the int4 layout torchao serves);
- GemLite (Triton, the same language as ours): A16W4 asymmetric groups of 64 and A16W8 fp8
  weight-only. Not a dependency: ``GEMLITE_SRC`` (or ``.peers/gemlite`` beside the repository)
  holds its unpacked PyPI sdist, carried to the GPU machine;
- SDPA with each backend (cuDNN, flash, memory-efficient) for attention.

Each builder returns ``(fn, weight)`` where ``fn()`` computes ``x @ W.T`` on the weight it was
built from and ``weight`` is the dequantized ``W`` the peer encodes (float32), so a benchmark can
check a peer like its own kernels before timing it; or raises ``PeerUnavailable`` with why.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import torch

GROUP = 64
_REPO = Path(__file__).resolve().parents[1]


class PeerUnavailable(RuntimeError):
    """The peer cannot run here (not installed, unsupported card or torch build)."""


def _asym_int4(w: torch.Tensor, group: int = GROUP):
    """Round-to-nearest asymmetric 4-bit codes ``[N, K]`` with per-group scale and minimum."""
    n, k = w.shape
    g = w.float().view(n, k // group, group)
    lo, hi = g.amin(-1, keepdim=True), g.amax(-1, keepdim=True)
    scale = ((hi - lo) / 15).clamp(min=1e-8)
    q = ((g - lo) / scale).round().clamp(0, 15)
    return q.view(n, k).to(torch.uint8), scale.squeeze(-1), lo.squeeze(-1)


def tinygemm_int4(w: torch.Tensor, x: torch.Tensor) -> tuple[Callable[[], torch.Tensor], torch.Tensor]:
    """torch's int4 weight-only matmul (bf16): ``W = (q - 8) * s + (m + 8 s)`` in its layout."""
    if not hasattr(torch.ops.aten, "_weight_int4pack_mm"):
        raise PeerUnavailable("this torch has no _weight_int4pack_mm")
    q, scale, lo = _asym_int4(w)
    n, k = w.shape
    packed_u8 = (q[:, ::2] << 4 | q[:, 1::2]).contiguous()
    packed = torch.ops.aten._convert_weight_to_int4pack(packed_u8, 8)
    # tinygemm: w = (q - 8) * scale + zero, with zero the value at code 8
    zero = lo + 8 * scale
    scales_zeros = torch.stack([scale.T, zero.T], dim=-1).to(torch.bfloat16).contiguous()  # [K/g, N, 2]
    xb = x.to(torch.bfloat16)
    ref = (q.float().view(n, k // GROUP, GROUP) - 8) * scales_zeros[..., 0].T.float().unsqueeze(-1) \
        + scales_zeros[..., 1].T.float().unsqueeze(-1)
    return (lambda: torch.ops.aten._weight_int4pack_mm(xb, packed, GROUP, scales_zeros)), ref.view(n, k)


def _gemlite():
    src = os.environ.get("GEMLITE_SRC") or str(_REPO / ".peers" / "gemlite")
    if Path(src).is_dir() and src not in sys.path:
        sys.path.insert(0, src)
    try:
        import gemlite
    except Exception as e:  # any import failure means the peer is not available here
        why = f"gemlite does not import ({type(e).__name__}: {e}); unpack its sdist into {src}"
        raise PeerUnavailable(why) from None
    name = torch.cuda.get_device_name().lower()
    if "h200" in name and not getattr(gemlite, "_ipex_bench_config", False):
        # GemLite ships tuned tables per card, none for the H200 (same SM as the H100): without
        # one it autotunes every shape; its H100 table is what a user of it gets closest to.
        table = Path(gemlite.__file__).parent / "configs" / "h100.json"
        gemlite.GemLiteLinear.load_config(str(table))
        gemlite._ipex_bench_config = True
    return gemlite


def gemlite_a16w4(w: torch.Tensor, x: torch.Tensor) -> tuple[Callable[[], torch.Tensor], torch.Tensor]:
    """GemLite A16W4, asymmetric groups of 64 (HQQ layout ``(q - zero) * scale``), fp16."""
    gemlite = _gemlite()
    n, k = w.shape
    q, scale, lo = _asym_int4(w)
    zero = -lo / scale  # (q - zero) * scale = q * scale + lo
    layer = gemlite.GemLiteLinear(4, group_size=GROUP, in_features=k, out_features=n,
                                  input_dtype=gemlite.DType.FP16, output_dtype=gemlite.DType.FP16)
    layer.pack(q, scale.half(), zero.half(), None)
    xh = x.half()
    zh, sh = zero.half().float().unsqueeze(-1), scale.half().float().unsqueeze(-1)
    ref = (q.float().view(n, k // GROUP, GROUP) - zh) * sh
    return (lambda: layer(xh)), ref.view(n, k)


def gemlite_a16w8_fp8(w: torch.Tensor, x: torch.Tensor) -> tuple[Callable[[], torch.Tensor], torch.Tensor]:
    """GemLite A16W8 fp8 (e4m3) weight-only, one scale per output channel, fp16."""
    _gemlite()
    from gemlite.helper import A16W8_FP8

    scale = (w.float().abs().amax(1, keepdim=True) / torch.finfo(torch.float8_e4m3fn).max).clamp(min=1e-6)
    q = (w.float() / scale).to(torch.float8_e4m3fn)
    layer = A16W8_FP8(device=str(w.device), dtype=torch.float16).from_weights(q, scales=scale.half())
    xh = x.half()
    return (lambda: layer(xh)), q.float() * scale.half().float()


INT4_PEERS = {"tinygemm int4 (bf16)": tinygemm_int4, "GemLite A16W4": gemlite_a16w4}
FP8_PEERS = {"GemLite A16W8 fp8": gemlite_a16w8_fp8}


def sdpa_backends() -> dict[str, object]:
    """SDPA's backends by name (``torch.nn.attention.SDPBackend``) that this torch has."""
    from torch.nn.attention import SDPBackend

    names = {"cudnn": "CUDNN_ATTENTION", "flash": "FLASH_ATTENTION", "efficient": "EFFICIENT_ATTENTION"}
    return {name: getattr(SDPBackend, attr) for name, attr in names.items() if hasattr(SDPBackend, attr)}
