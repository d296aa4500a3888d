"""Write tiny AWQ / GPTQ checkpoints in the exact public layouts (round-to-nearest quantization).

Returns, next to the folder, the float32 weights the checkpoint encodes, computed from
the integer codes *before* packing (an independent reference for the plugin's unpacking
and conversion).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from vllm_ipex_plugin.kernels.lowbit.awq_gptq import AWQ_ORDER, pack_int32
from vllm_ipex_plugin.quantize_checkpoint import is_quantizable

# The checkpoint variants the tests run: keyword arguments of write_public_checkpoint / encode_public.
VARIANTS = {
    "awq-g128": dict(source="awq", group=128),
    "awq-g32": dict(source="awq", group=32),
    "gptq-asym-g64": dict(source="gptq", group=64),
    "gptq-sym-g128-actorder": dict(source="gptq", group=128, sym=True, desc_act=True),
    "gptq-asym-g32-actorder": dict(source="gptq", group=32, desc_act=True),
    "gptq-sym-perchannel": dict(source="gptq", group=-1, sym=True),
    "gptq-8bit-sym-g64": dict(source="gptq", bits=8, group=64, sym=True),
}


def _rtn(w: torch.Tensor, bits: int, group: int, sym: bool, g_idx: torch.Tensor):
    """Codes q [N, K], zeros z [G, N], fp16 scales s [G, N] for columns grouped by g_idx."""
    n, k = w.shape
    groups = int(g_idx.max()) + 1
    qmax = (1 << bits) - 1
    z = torch.empty(groups, n, dtype=torch.int64)
    s = torch.empty(groups, n, dtype=torch.float16)
    for gi in range(groups):
        cols = w[:, g_idx == gi]
        if sym:
            scale = cols.abs().amax(1).clamp(min=1e-8) / ((qmax + 1) // 2 - 0.5)
            zero = torch.full((n,), (qmax + 1) // 2, dtype=torch.int64)
        else:
            lo, hi = cols.amin(1).clamp(max=0), cols.amax(1).clamp(min=0)
            scale = ((hi - lo) / qmax).clamp(min=1e-8)
            zero = torch.round(-lo / scale).clamp(0, qmax).to(torch.int64)
        s[gi] = scale.half()
        z[gi] = zero
    sf = s.float()[g_idx].T  # [N, K]
    zf = z[g_idx].T
    q = torch.clamp(torch.round(w / sf) + zf, 0, qmax).to(torch.int64)
    return q, z, s


def encode_public(w: torch.Tensor, source: str, bits: int = 4, group: int = 128, sym: bool = False,
                  perm: torch.Tensor | None = None, gptq_min_zero: int = 1):
    """One weight ``w [N, K]`` in the public layout: ``(tensors, float32 W they encode)``.
    ``perm``: act-order (columns ``perm`` are grouped in order, ``g_idx[perm] = arange // group``)."""
    w = w.float()
    k = w.shape[1]
    g = k if group == -1 else group
    if perm is not None:
        g_idx = torch.empty(k, dtype=torch.int64)
        g_idx[perm] = torch.arange(k) // g
    else:
        g_idx = torch.arange(k) // g
    q, z, s = _rtn(w, bits, g, sym, g_idx)
    if source == "gptq" and not sym:
        z = z.clamp(min=gptq_min_zero)  # v1 stores z - 1: keep it representable
        q = torch.clamp(torch.round(w / s.float()[g_idx].T) + z[g_idx].T, 0, (1 << bits) - 1)
    reference = (q.float() - z[g_idx].T.float()) * s.float()[g_idx].T
    if source == "awq":
        tensors = {"qweight": pack_int32(q.T.contiguous(), bits, 1, AWQ_ORDER),
                   "qzeros": pack_int32(z, bits, 1, AWQ_ORDER)}
    else:
        tensors = {"qweight": pack_int32(q.T.contiguous(), bits, 0), "qzeros": pack_int32(z - 1, bits, 1),
                   "g_idx": g_idx.to(torch.int32)}
    tensors["scales"] = s
    return tensors, reference


def public_quant_config(source: str, bits: int = 4, group: int = 128, sym: bool = False,
                        desc_act: bool = False) -> dict:
    """The checkpoint's ``quantization_config`` for the layout :func:`encode_public` writes."""
    if source == "awq":
        return {"quant_method": "awq", "bits": bits, "group_size": group, "zero_point": True, "version": "gemm"}
    return {"quant_method": "gptq", "bits": bits, "group_size": group, "desc_act": desc_act, "sym": sym,
            "checkpoint_format": "gptq"}


def write_public_checkpoint(src: Path, dst: Path, source: str, bits: int = 4, group: int = 128, sym: bool = False,
                            desc_act: bool = False, seed: int = 0, gptq_min_zero: int = 1):
    """Quantize every linear projection of ``src`` into ``dst``; returns {weight name: float32 W}."""
    gen = torch.Generator().manual_seed(seed)
    dst.mkdir(parents=True, exist_ok=True)
    reference: dict[str, torch.Tensor] = {}
    perms: dict[tuple[str, int], torch.Tensor] = {}
    out = {}
    for name, w in load_file(str(src / "model.safetensors")).items():
        if not is_quantizable(name, w):
            out[name] = w
            continue
        k = w.shape[1]
        key = (name.rsplit(".", 2)[0], k)  # modules sharing an input share g_idx
        perm = perms.setdefault(key, torch.randperm(k, generator=gen)) if desc_act else None
        tensors, reference[name] = encode_public(w, source, bits, group, sym, perm, gptq_min_zero)
        base = name.removesuffix(".weight")
        out.update({f"{base}.{tname}": t for tname, t in tensors.items()})
    save_file({k: v.contiguous() for k, v in out.items()}, str(dst / "model.safetensors"), metadata={"format": "pt"})
    for extra in src.iterdir():
        if extra.is_file() and extra.suffix != ".safetensors" and extra.name != "config.json":
            shutil.copy2(extra, dst / extra.name)
    config = json.loads((src / "config.json").read_text())
    config["quantization_config"] = public_quant_config(source, bits, group, sym, desc_act)
    config["torch_dtype"] = "float16"
    (dst / "config.json").write_text(json.dumps(config, indent=2))
    return reference


def edit_quant_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"].update(changes)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
