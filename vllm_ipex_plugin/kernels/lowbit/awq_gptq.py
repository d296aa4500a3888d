"""Exact conversion of AWQ (GEMM) and GPTQ 4-bit checkpoints into the asym_int4 layout.

Public layouts (AutoAWQ / AutoGPTQ, as vLLM loads them; ``W`` is ``[N out, K in]``):

- AWQ GEMM: ``qweight`` int32 ``[K, N/8]`` packed along N, nibble ``i`` of a word holds
  column ``AWQ_ORDER[i]`` of its 8 (``[0, 2, 4, 6, 1, 3, 5, 7]``); ``qzeros`` int32
  ``[K/g, N/8]`` packed the same way; ``scales`` fp16 ``[K/g, N]``;
  ``w = (q - z) * s``.
- GPTQ: ``qweight`` int32 ``[K/8, N]`` packed along K, nibble ``j`` = row ``8i + j``;
  ``qzeros`` int32 ``[K/g, N/8]`` packed along N sequentially, storing ``z - 1``
  (format v1; ``gptq_v2`` stores ``z``); ``scales`` fp16 ``[K/g, N]``; ``g_idx`` int32
  ``[K]`` (input column -> group; a permutation under act-order / ``desc_act``);
  ``w = (q - z) * s[g_idx]``. 8-bit packs 4 per word; symmetric 8-bit has ``z = 128``.

Conversion: act-order columns are sorted by group (the activation is gathered with the
same permutation at run time), then each 64-column block (32 for group size 32) takes
its group's scale ``d = s`` (fp16) and min ``m = -z * s`` kept in float32, so that
``d * q + m == (q - z) * s`` exactly in float32 (IPEX-LLM rounds ``m`` to fp16; that
costs up to 2^-11 of ``|m|`` per weight for a quarter of a bit per weight saved).
"""

from __future__ import annotations

import torch

from vllm_ipex_plugin.kernels.lowbit.reference import pack_nibbles

AWQ_ORDER = (0, 2, 4, 6, 1, 3, 5, 7)


def unpack_int32(packed: torch.Tensor, bits: int, dim: int, order: tuple[int, ...] | None = None) -> torch.Tensor:
    """Unpack ``32 // bits`` codes per int32 along ``dim``; ``order[i]`` = position of nibble i."""
    per = 32 // bits
    mask = (1 << bits) - 1
    p = packed.to(torch.int64) & 0xFFFFFFFF
    shifts = torch.arange(per, device=packed.device) * bits
    codes = (p.unsqueeze(-1) >> shifts) & mask  # [..., per]: nibble i
    if order is not None:
        inverse = [order.index(j) for j in range(per)]
        codes = codes[..., inverse]  # now position j
    codes = codes.movedim(-1, dim + 1) if dim != packed.dim() - 1 else codes
    shape = list(packed.shape)
    shape[dim] *= per
    return codes.reshape(shape).to(torch.int32)


def pack_int32(codes: torch.Tensor, bits: int, dim: int, order: tuple[int, ...] | None = None) -> torch.Tensor:
    """Inverse of :func:`unpack_int32` (used to write test checkpoints in the public layouts)."""
    per = 32 // bits
    c = codes.to(torch.int64) & ((1 << bits) - 1)
    c = c.movedim(dim, -1)
    c = c.reshape(*c.shape[:-1], c.shape[-1] // per, per)
    if order is not None:
        c = c[..., list(order)]  # nibble i holds position order[i]
    shifts = torch.arange(per, device=codes.device) * bits
    words = (c << shifts).sum(-1)
    words = torch.where(words >= 2**31, words - 2**32, words).to(torch.int32)
    return words.movedim(-1, dim)


def public_weights(source: str, t: dict[str, torch.Tensor], bits: int, group: int,
                   zeros_offset: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Integer codes ``q [N, K]``, zeros ``z [G, N]``, scales ``s [G, N]``, ``g_idx [K]``."""
    if source == "awq":
        q = unpack_int32(t["qweight"], bits, dim=1, order=AWQ_ORDER).T
        z = unpack_int32(t["qzeros"], bits, dim=1, order=AWQ_ORDER)
        k = q.shape[1]
        g_idx = torch.arange(k, device=q.device) // group
    else:
        q = unpack_int32(t["qweight"], bits, dim=0).T
        z = unpack_int32(t["qzeros"], bits, dim=1) + zeros_offset
        g_idx = t["g_idx"].to(torch.int64)
    return q.contiguous(), z, t["scales"], g_idx


def dequantize_public(source: str, t: dict[str, torch.Tensor], bits: int, group: int,
                      zeros_offset: int = 1) -> torch.Tensor:
    """``W [N, K] = (q - z[g_idx]) * s[g_idx]`` in float32, straight from the public layout."""
    q, z, s, g_idx = public_weights(source, t, bits, group, zeros_offset)
    return (q.float() - z[g_idx].T.float()) * s[g_idx].T.float()


def to_asym_int4(source: str, t: dict[str, torch.Tensor], group: int, zeros_offset: int = 1):
    """Our asym_int4 tensors and the input permutation (``None`` without act-order)."""
    q, z, s, g_idx = public_weights(source, t, 4, group, zeros_offset)
    n, k = q.shape
    perm = None
    if not torch.equal(g_idx, torch.arange(k, device=g_idx.device) // group):
        perm = torch.argsort(g_idx, stable=True)
        if not torch.equal(g_idx[perm], torch.arange(k, device=g_idx.device) // group):
            raise ValueError(
                f"g_idx does not assign exactly group_size={group} columns to each group "
                f"(group sizes {torch.bincount(g_idx).tolist()[:8]}...)"
            )
        q = q[:, perm]
    qb = 32 if group == 32 else 64
    block_group = (torch.arange(k // qb, device=q.device) * qb) // group  # group of each block
    d = s[block_group].T.contiguous()  # [N, K/qb] fp16
    m = -(z[block_group].T.float()) * s[block_group].T.float()
    tensors = {"qweight": pack_nibbles(q), "scales": d.to(torch.float16), "mins": m.contiguous()}
    return tensors, (perm.to(torch.int32) if perm is not None else None)


def gptq8_to_sym_int8(t: dict[str, torch.Tensor], group: int, zeros_offset: int = 1):
    """Symmetric 8-bit GPTQ (z = 128) -> sym_int8 tensors and permutation."""
    q, z, s, g_idx = public_weights("gptq", t, 8, group, zeros_offset)
    if not bool((z == 128).all()):
        raise ValueError("8-bit GPTQ with zero points other than 128 (asymmetric) is not supported")
    n, k = q.shape
    perm = None
    if not torch.equal(g_idx, torch.arange(k, device=g_idx.device) // group):
        perm = torch.argsort(g_idx, stable=True)
        q = q[:, perm]
    block_group = (torch.arange(k // 64, device=q.device) * 64) // group
    return (
        {"qweight": (q - 128).to(torch.int8).contiguous(), "scales": s[block_group].T.float().contiguous()},
        perm.to(torch.int32) if perm is not None else None,
    )
