"""Dense float64 attention: what the paged kernels and the attention impl are checked against."""

from __future__ import annotations

import torch


def dense_attention(q, k, v, scale, window=None, soft_cap=None, spans=(), clamp_spans=False):
    """q [Lq, H, D], k/v [Lk, Hkv, D]; the Lq queries are the last Lq positions (causal).
    ``spans``: inclusive (start, end) position ranges attended bidirectionally, as
    FlexAttention and vLLM order it: (causal AND window) OR (query and key in one span);
    ``clamp_spans``: a span key only within the window too (Gemma4's sliding layers)."""
    group = q.shape[1] // k.shape[1]
    k = k.double().repeat_interleave(group, 1)
    v = v.double().repeat_interleave(group, 1)
    s = torch.einsum("qhd,khd->hqk", q.double(), k) * scale
    if soft_cap:
        s = soft_cap * torch.tanh(s / soft_cap)
    lq, lk = q.shape[0], k.shape[0]
    qpos = torch.arange(lk - lq, lk).unsqueeze(1)
    kpos = torch.arange(lk).unsqueeze(0)
    mask = kpos <= qpos
    if window:
        mask &= (qpos - kpos) < window
    for start, end in spans:
        span = (qpos >= start) & (qpos <= end) & (kpos >= start) & (kpos <= end)
        if clamp_spans and window:
            span &= (qpos - kpos) < window
        mask |= span
    s = s.masked_fill(~mask, float("-inf"))
    return torch.einsum("hqk,khd->qhd", torch.softmax(s, -1), v)
