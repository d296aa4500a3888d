"""Triton paged attention on the GPU: correctness vs SDPA (float32), decode bandwidth, prefill TFLOP/s.

    python benchmarks/attention.py

Decode: Llama-3-8B attention (32 query heads, 8 KV heads, head size 128, fp16 KV, block
size 16) at batch {1, 16, 64, 128} x context {1k, 4k, 16k}; achieved fraction of 3.0 TB/s
counting the KV bytes read. Prefill: causal, 32 heads x 128, one sequence of 1k..8k
through the paged cache (block size 64), TFLOP/s next to
torch.nn.functional.scaled_dot_product_attention on the same card. Needs torch + Triton only.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vllm_ipex_plugin.kernels import attention_triton as at  # noqa: E402
from vllm_ipex_plugin.kernels.lowbit_tune import graph_time  # noqa: E402

COPY_BW = 3.0e12


def timed(fn, reps: int = 20) -> float:
    """Median seconds of one call of ``fn`` replayed in a CUDA graph."""
    return graph_time([fn], reps=reps)


def make_batch(batch, ctx, q_len, heads, kv_heads, d, block_size, dtype, gen):
    blocks_per = -(-ctx // block_size)
    num_blocks = batch * blocks_per + 1
    kc = torch.randn(num_blocks, block_size, kv_heads, d, device="cuda", dtype=dtype, generator=gen)
    vc = torch.randn_like(kc)
    table = torch.randperm(num_blocks - 1, device="cuda", generator=gen)[: batch * blocks_per]
    table = table.view(batch, blocks_per).to(torch.int32)
    q = torch.randn(batch * q_len, heads, d, device="cuda", dtype=dtype, generator=gen)
    qsl = torch.arange(0, batch * q_len + 1, q_len, device="cuda", dtype=torch.int32)
    seq = torch.full((batch,), ctx, device="cuda", dtype=torch.int32)
    return q, kc, vc, table, qsl, seq


def dense_kv(kc, vc, table, ctx, req):
    k = kc[table[req].long()].reshape(-1, kc.shape[2], kc.shape[3])[:ctx]
    v = vc[table[req].long()].reshape(-1, vc.shape[2], vc.shape[3])[:ctx]
    return k, v


def check(gen) -> float:
    worst = 0.0
    for batch, ctx, q_len, heads, kvh, d in [(3, 1000, 1, 32, 8, 128), (2, 700, 300, 32, 8, 128),
                                             (1, 2048, 2048, 16, 16, 64), (4, 513, 1, 8, 1, 256),
                                             (2, 300, 40, 12, 4, 80), (2, 300, 40, 12, 4, 96)]:
        q, kc, vc, table, qsl, seq = make_batch(batch, ctx, q_len, heads, kvh, d, 16, torch.float16, gen)
        out = torch.full_like(q, float("nan"))
        at.paged_attention(q, kc, vc, qsl, seq, table, batch, q_len, d**-0.5, out)
        for r in range(batch):
            k, v = dense_kv(kc, vc, table, ctx, r)
            qq = q[r * q_len : (r + 1) * q_len].float().transpose(0, 1)
            kk = k.float().repeat_interleave(heads // kvh, 1).transpose(0, 1)
            vv = v.float().repeat_interleave(heads // kvh, 1).transpose(0, 1)
            mask = torch.arange(ctx, device="cuda")[None, :] <= torch.arange(ctx - q_len, ctx, device="cuda")[:, None]
            ref = F.scaled_dot_product_attention(qq, kk, vv, attn_mask=mask, scale=d**-0.5).transpose(0, 1)
            got = out[r * q_len : (r + 1) * q_len].float()
            worst = max(worst, ((got - ref).norm() / ref.norm()).item())
    assert worst < 5e-3, worst
    return worst


def prefill_sweep(gen) -> None:
    """TF/s of prefill tile configurations at 4k and 8k (each config checked against SDPA first)."""
    for n in (4096, 8192):
        q, kc, vc, table, qsl, seq = make_batch(1, n, n, 32, 32, 128, 64, torch.float16, gen)
        k, v = dense_kv(kc, vc, table, n, 0)
        qq, kk, vv = (x.transpose(0, 1).unsqueeze(0).contiguous() for x in (q, k, v))
        ref = F.scaled_dot_product_attention(qq, kk, vv, is_causal=True)[0].transpose(0, 1).float()
        flops = 4 * n * n * 32 * 128 / 2
        for bq in (64, 128):
            for bn in (32, 64, 128):
                for warps in (4, 8):
                    for stages in (2, 3):
                        plan = at.make_plan(qsl, 1, n, 32, 32, block_q=bq, seq_lens=seq, block_n=bn, num_warps=warps,
                                            num_stages=stages)
                        out = torch.empty_like(q)
                        try:
                            at.paged_attention(q, kc, vc, qsl, seq, table, 1, n, 0.088388, out, plan=plan)
                        except Exception as exc:
                            print(f"n={n} bq={bq} bn={bn} w={warps} s={stages}: {str(exc)[:60]}")
                            continue
                        err = ((out.float() - ref).norm() / ref.norm()).item()
                        t = timed(functools.partial(at.paged_attention, q, kc, vc, qsl, seq, table, 1, n, 0.088388,
                                                    out, plan=plan), reps=5)
                        print(f"n={n} bq={bq} bn={bn} w={warps} s={stages}: {flops / t / 1e12:6.1f} TF/s err {err:.1e}")


def main() -> None:
    gen = torch.Generator(device="cuda").manual_seed(0)
    if "--sweep" in sys.argv:
        prefill_sweep(gen)
        return
    card = torch.cuda.get_device_name()
    print(f"card: {card}; torch {torch.__version__}; triton {__import__('triton').__version__}")
    print(f"correctness vs SDPA float32: max rel err {check(gen):.1e} (bound 5e-3, fp16 inputs)")
    rows = []
    for batch in (1, 16, 64, 128):
        for ctx in (1024, 4096, 16384):
            q, kc, vc, table, qsl, seq = make_batch(batch, ctx, 1, 32, 8, 128, 16, torch.float16, gen)
            out = torch.empty_like(q)
            plan = at.make_plan(qsl, batch, 1, 32, 8)
            t = timed(functools.partial(at.paged_attention, q, kc, vc, qsl, seq, table, batch, 1, 0.088, out,
                                        plan=plan))
            kv_bytes = batch * ctx * 8 * 128 * 2 * 2
            rows.append((batch, ctx, t * 1e6, kv_bytes / t / 1e12, kv_bytes / t / COPY_BW))
            del kc, vc
    print(f"\ndecode, 32 q heads / 8 KV heads x 128, fp16 KV, block 16, {card}")
    print(f"{'batch':>5} {'context':>7} {'us':>9} {'TB/s':>6} {'of 3.0 TB/s':>11}")
    for b, c, us, tbs, frac in rows:
        print(f"{b:>5} {c:>7} {us:9.1f} {tbs:6.2f} {frac:11.0%}")
    print(f"\nprefill, causal, 32 heads x 128, fp16, one sequence, {card}")
    print(f"{'seq':>6} {'ours TF/s':>10} {'SDPA TF/s':>10} {'ratio':>6}")
    for n in (1024, 2048, 4096, 8192):
        q, kc, vc, table, qsl, seq = make_batch(1, n, n, 32, 32, 128, 64, torch.float16, gen)
        out = torch.empty_like(q)
        plan = at.make_plan(qsl, 1, n, 32, 32, seq_lens=seq)
        t_ours = timed(functools.partial(at.paged_attention, q, kc, vc, qsl, seq, table, 1, n, 0.088, out,
                                         plan=plan), reps=10)
        k, v = dense_kv(kc, vc, table, n, 0)
        qq, kk, vv = (x.transpose(0, 1).unsqueeze(0).contiguous() for x in (q, k, v))
        t_sdpa = timed(functools.partial(F.scaled_dot_product_attention, qq, kk, vv, is_causal=True), reps=10)
        flops = 4 * n * n * 32 * 128 / 2
        print(f"{n:>6} {flops / t_ours / 1e12:10.1f} {flops / t_sdpa / 1e12:10.1f} {t_sdpa / t_ours:6.2f}")


if __name__ == "__main__":
    main()
