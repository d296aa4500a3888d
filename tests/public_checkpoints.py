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

from vllm_ipex_plugin.kernels.awq_gptq import AWQ_ORDER, pack_int32
from vllm_ipex_plugin.quantize import is_quantizable


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
        w = w.float()
        n, k = w.shape
        g = k if group == -1 else group
        key = (name.rsplit(".", 2)[0], k)  # modules sharing an input share g_idx
        if desc_act:
            perm = perms.setdefault(key, torch.randperm(k, generator=gen))
            g_idx = torch.empty(k, dtype=torch.int64)
            g_idx[perm] = torch.arange(k) // g
        else:
            g_idx = torch.arange(k) // g
        q, z, s = _rtn(w, bits, g, sym, g_idx)
        if source == "gptq" and not sym:
            z = z.clamp(min=gptq_min_zero)  # v1 stores z - 1: keep it representable
            q = torch.clamp(torch.round(w / s.float()[g_idx].T) + z[g_idx].T, 0, (1 << bits) - 1)
        reference[name] = (q.float() - z[g_idx].T.float()) * s.float()[g_idx].T
        base = name.removesuffix(".weight")
        if source == "awq":
            out[f"{base}.qweight"] = pack_int32(q.T.contiguous(), bits, 1, AWQ_ORDER)
            out[f"{base}.qzeros"] = pack_int32(z, bits, 1, AWQ_ORDER)
        else:
            out[f"{base}.qweight"] = pack_int32(q.T.contiguous(), bits, 0)
            out[f"{base}.qzeros"] = pack_int32(z - 1, bits, 1)
            out[f"{base}.g_idx"] = g_idx.to(torch.int32)
        out[f"{base}.scales"] = s
    save_file({k: v.contiguous() for k, v in out.items()}, str(dst / "model.safetensors"), metadata={"format": "pt"})
    for extra in src.iterdir():
        if extra.is_file() and extra.suffix != ".safetensors" and extra.name != "config.json":
            shutil.copy2(extra, dst / extra.name)
    config = json.loads((src / "config.json").read_text())
    if source == "awq":
        qc = {"quant_method": "awq", "bits": bits, "group_size": group, "zero_point": True, "version": "gemm"}
    else:
        qc = {"quant_method": "gptq", "bits": bits, "group_size": group, "desc_act": desc_act, "sym": sym,
              "checkpoint_format": "gptq"}
    config["quantization_config"] = qc
    config["torch_dtype"] = "float16"
    (dst / "config.json").write_text(json.dumps(config, indent=2))
    return reference


def edit_quant_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"].update(changes)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
