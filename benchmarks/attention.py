"""Triton paged attention on the GPU: correctness vs SDPA (float32), decode bandwidth, prefill TFLOP/s.

    python benchmarks/attention.py            # the tables
    python benchmarks/attention.py --sweep [N ...]   # prefill launch configurations (default 8k), best last
    python benchmarks/attention.py --check    # correctness only
    python benchmarks/attention.py --spans    # prefill with bidirectional image spans vs causal and masked peers

Decode: Llama-3-8B attention (32 query heads, 8 KV heads, head size 128, fp16 KV, block
size 16) at batch {1, 16, 64, 128} x context {1k, 4k, 16k}; achieved fraction of the copy rate
measured in the run counting the KV bytes read. Each decode figure is one call of a graph that
replays the call over enough cache copies to overflow L2, as a model's layers do (a graph of one
call measures the graph's launch: an empty kernel takes 16 us that way on an H200). Prefill:
causal, 32 heads x 128, one sequence of 1k..8k through the paged cache (block size 64), TFLOP/s
next to torch.nn.functional.scaled_dot_product_attention on the same card. Needs torch + Triton
only.
"""

from __future__ import annotations

import functools
import itertools
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention.bias import causal_lower_right

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.peers import sdpa_backends  # noqa: E402
from vllm_ipex_plugin.kernels.attention import launch as at  # noqa: E402
from vllm_ipex_plugin.kernels.common.timing import copy_bandwidth, graph_time  # noqa: E402

PREFILL_REPEATS = 8  # calls per graph replay: a replay's own launch (over 10 us) would count in each call


def timed(fn, reps: int = 20) -> float:
    """Median seconds of one call of ``fn``, replayed ``PREFILL_REPEATS`` times back to back in a
    CUDA graph (compute-bound calls: the repeats read the same inputs, as the peers' do)."""
    return graph_time([fn] * PREFILL_REPEATS, reps=reps)


def decode_time(batch, ctx, block_size, gen, kv_load=None) -> float:
    """Median seconds of one decode call (Llama-3-8B heads), over cache copies that overflow L2
    (each copy its own batch, its plan made as the backend makes it, with the step's longest
    context)."""
    kv_bytes = batch * ctx * 8 * 128 * 2 * 2
    l2 = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 50 * 2**20)
    calls = []
    for _ in range(max(2, min(24, -(-3 * l2 // kv_bytes)))):
        q, kc, vc, table, qsl, seq = make_batch(batch, ctx, 1, 32, 8, 128, block_size, torch.float16, gen)
        tuning = {"kv_load": kv_load} if kv_load else {}
        plan = at.make_plan(qsl, batch, 1, 32, 8, max_seq_len=ctx, **tuning)
        calls.append(functools.partial(at.paged_attention, q, kc, vc, qsl, seq, table, batch, 1, 0.088,
                                       torch.empty_like(q), plan=plan))
    return graph_time(calls)


def make_batch(batch, ctx, q_len, heads, kv_heads, d, block_size, dtype, gen):
    blocks_per = -(-ctx // block_size)
    num_blocks = batch * blocks_per + 1
    # vLLM's default cache layout (NHD, K and V packed on the last dim), split into two views
    kv = torch.randn(num_blocks, block_size, kv_heads, 2 * d, device="cuda", dtype=dtype, generator=gen)
    kc, vc = kv.split(d, dim=-1)
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


def step_qkv(q, kc, vc, table, batch, ctx, q_len):
    """The step's queries, keys and values as vLLM hands them to attention: strided views of
    one QKV projection output (keys/values: each request's last ``q_len`` positions)."""
    news = [dense_kv(kc, vc, table, ctx, r) for r in range(batch)]
    k = torch.cat([kk[ctx - q_len :] for kk, _ in news])
    v = torch.cat([vv[ctx - q_len :] for _, vv in news])
    qkv = torch.cat([q.flatten(1), k.flatten(1), v.flatten(1)], dim=1)
    a, b = q.shape[1] * q.shape[2], k.shape[1] * k.shape[2]
    return (qkv[:, :a].view_as(q), qkv[:, a : a + b].view_as(k), qkv[:, a + b :].view_as(v))


KV_LOADS = ("gather", "block", "desc", "desc+new")  # desc+new: descriptors, new tokens from the QKV views


def bind(kv_load, q, kc, vc, qsl, seq, table, batch, q_len, scale, out, qkv=None, **tuning):
    """``at.paged_attention`` as a no-argument call, its plan for ``kv_load`` made here (outside
    any graph capture; ``qkv``: step_qkv's views)."""
    load = kv_load.removesuffix("+new")
    plan = at.make_plan(qsl, batch, q_len, q.shape[1], kc.shape[2], seq_lens=seq, kv_load=load,
                        max_seq_len=int(seq.max()), **tuning)
    extra = {}
    if kv_load.endswith("+new"):
        q, extra = qkv[0], {"key": qkv[1], "value": qkv[2]}
    return functools.partial(at.paged_attention, q, kc, vc, qsl, seq, table, batch, q_len, scale, out, plan=plan,
                             **extra)


CHECK_BOUNDS = {torch.float16: 5e-3, torch.bfloat16: 1.5e-2}  # relative error; bf16 keeps 8 mantissa bits


def check(gen) -> dict:
    """Worst relative error against float32 SDPA per input dtype, over decode, mixed, GQA,
    head sizes and every K/V read (fp16: every case; bf16: the Llama-3-8B shapes and d=80)."""
    worst = dict.fromkeys(CHECK_BOUNDS, 0.0)
    cases = [(3, 1000, 1, 32, 8, 128, 16), (2, 700, 300, 32, 8, 128, 16), (1, 2048, 2048, 16, 16, 64, 64),
             (4, 513, 1, 8, 1, 256, 16), (2, 300, 40, 12, 4, 80, 16), (2, 300, 40, 12, 4, 96, 16),
             (2, 1500, 700, 32, 8, 128, 64), (1, 4096, 4096, 32, 32, 128, 64)]
    bf16_cases = [cases[i] for i in (0, 1, 4, 6)]
    runs = [(c, torch.float16) for c in cases] + [(c, torch.bfloat16) for c in bf16_cases]
    for ((batch, ctx, q_len, heads, kvh, d, bs), dtype), kv_load in itertools.product(runs, KV_LOADS):
        q, kc, vc, table, qsl, seq = make_batch(batch, ctx, q_len, heads, kvh, d, bs, dtype, gen)
        out = torch.full_like(q, float("nan"))
        bind(kv_load, q, kc, vc, qsl, seq, table, batch, q_len, d**-0.5, out,
             step_qkv(q, kc, vc, table, batch, ctx, q_len))()
        for r in range(batch):
            k, v = dense_kv(kc, vc, table, ctx, r)
            qq = q[r * q_len : (r + 1) * q_len].float().transpose(0, 1)
            kk = k.float().repeat_interleave(heads // kvh, 1).transpose(0, 1)
            vv = v.float().repeat_interleave(heads // kvh, 1).transpose(0, 1)
            mask = torch.arange(ctx, device="cuda")[None, :] <= torch.arange(ctx - q_len, ctx, device="cuda")[:, None]
            ref = F.scaled_dot_product_attention(qq, kk, vv, attn_mask=mask, scale=d**-0.5).transpose(0, 1)
            got = out[r * q_len : (r + 1) * q_len].float()
            worst[dtype] = max(worst[dtype], ((got - ref).norm() / ref.norm()).item())
    for dtype, bound in CHECK_BOUNDS.items():
        assert worst[dtype] < bound, (dtype, worst[dtype])
    return worst


def prefill_sweep(gen, n: int = 8192) -> None:
    """TF/s of prefill configurations for one MHA sequence of ``n`` (each checked against SDPA
    first), best last."""
    results = []
    q, kc, vc, table, qsl, seq = make_batch(1, n, n, 32, 32, 128, 64, torch.float16, gen)
    qkv = step_qkv(q, kc, vc, table, 1, n, n)
    qq, kk, vv = (x.transpose(0, 1).unsqueeze(0).contiguous() for x in qkv)
    ref = F.scaled_dot_product_attention(qq, kk, vv, is_causal=True)[0].transpose(0, 1).float()
    flops = 4 * n * n * 32 * 128 / 2
    for kv_load, bq, bn, warps, stages in itertools.product(KV_LOADS[1:], (64, 128), (32, 64), (4, 8), (2, 3, 4)):
        if warps == 8 and bq * bn < 128 * 64:
            continue
        name = f"{kv_load:8} bq={bq:3} bn={bn:3} w={warps} s={stages}"
        out = torch.empty_like(q)
        try:
            call = bind(kv_load, q, kc, vc, qsl, seq, table, 1, n, 0.088388, out, qkv, block_q=bq, block_n=bn,
                        num_warps=warps, num_stages=stages)
            call()
            err = ((out.float() - ref).norm() / ref.norm()).item()
            t = timed(call, reps=5)
        except Exception as exc:  # a config the compiler rejects (shared memory, registers)
            print(f"{name}: {type(exc).__name__} {str(exc)[:80]}")
            continue
        results.append((flops / t / 1e12, name, err))
        print(f"{name}: {flops / t / 1e12:6.1f} TF/s err {err:.1e}", flush=True)
    print(f"\nbest 10 at {n}:")
    for tf, name, err in sorted(results)[-10:]:
        print(f"{name}: {tf:6.1f} TF/s err {err:.1e}")


def sdpa_with(backend, call, flops: float) -> float | None:
    """TFLOP/s of ``call`` with SDPA forced to ``backend``; None where that backend refuses the inputs."""
    from torch.nn.attention import sdpa_kernel

    try:
        with sdpa_kernel(backend):
            return flops / timed(call, reps=10) / 1e12
    except RuntimeError:
        return None


def with_sdpa_columns(ours: list[float], sdpa_call, flops: float, backends: dict) -> str:
    """A table row's figures: our TFLOP/s per K/V read, SDPA's default choice and each backend
    forced (timed now), and our best over the best SDPA."""
    sdpa = flops / timed(sdpa_call, reps=10) / 1e12
    per_backend = [sdpa_with(backend, sdpa_call, flops) for backend in backends.values()]
    best_sdpa = max([sdpa] + [x for x in per_backend if x])
    return (" ".join(f"{x:8.1f}" for x in ours) + f" {sdpa:8.1f} "
            + " ".join(f"{x:9.1f}" if x else f"{'n/a':>9}" for x in per_backend) + f" {max(ours) / best_sdpa:14.2f}")


def span_layout(n: int, image_tokens: int, images: int) -> list[tuple[int, int]]:
    """Inclusive spans of ``images`` images of ``image_tokens`` tokens, each after 64 text tokens."""
    spans, pos = [], 64
    for _ in range(images):
        spans.append((pos, pos + image_tokens - 1))
        pos += image_tokens + 64
    assert pos <= n, (n, spans)
    return spans


def spans_table(gen) -> None:
    """Prefill of a multimodal prefix LM's prompt (bidirectional image spans, ``--spans``): the
    kernel with spans against itself without (plain causal), float32 SDPA with the dense mask as
    the correctness reference, and the masked peers (SDPA with a boolean mask, FlexAttention with a
    block mask) on the same inputs. Llama-3-8B heads (32 q / 8 KV x 128), fp16, block size 64."""
    from vllm_ipex_plugin.kernels.attention.batch import mm_range_tensor

    card = torch.cuda.get_device_name()
    try:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        flex = torch.compile(flex_attention)
    except Exception as exc:  # an older torch
        print(f"FlexAttention unavailable: {exc}")
        flex = None
    print(f"\nprefill with bidirectional image spans, 32 q / 8 KV heads x 128, fp16, block 64, {card}")
    print(f"{'seq':>6} {'spans':>12} {'causal us':>10} {'spans us':>9} {'overhead':>8} {'rel err':>8} "
          f"{'SDPA mask us':>12} {'flex us':>8} {'ours/best peer':>14}")
    for n, image_tokens, images in ((2048, 256, 2), (8192, 256, 4), (8192, 1024, 1)):
        q, kc, vc, table, qsl, seq = make_batch(1, n, n, 32, 8, 128, 64, torch.float16, gen)
        spans = span_layout(n, image_tokens, images)
        mm = mm_range_tensor({0: spans}, 1, "cuda")
        out, out_causal = torch.empty_like(q), torch.empty_like(q)
        plan = at.make_plan(qsl, 1, n, 32, 8, seq_lens=seq)
        causal_call = functools.partial(at.paged_attention, q, kc, vc, qsl, seq, table, 1, n, 0.088, out_causal,
                                        plan=plan)
        span_call = functools.partial(at.paged_attention, q, kc, vc, qsl, seq, table, 1, n, 0.088, out, plan=plan,
                                      mm_ranges=mm)
        span_call()
        k, v = dense_kv(kc, vc, table, n, 0)
        pos = torch.arange(n, device="cuda")
        mask = pos[None, :] <= pos[:, None]
        for a, b in spans:
            inside = (pos >= a) & (pos <= b)
            mask |= inside[:, None] & inside[None, :]
        qq, kk, vv = (x.transpose(0, 1).unsqueeze(0) for x in (q, k, v))
        kk32, vv32 = (x.float().repeat_interleave(4, 1) for x in (kk, vv))
        ref = F.scaled_dot_product_attention(qq.float(), kk32, vv32, attn_mask=mask, scale=0.088)[0].transpose(0, 1)
        err = ((out.float() - ref).norm() / ref.norm()).item()
        assert err < CHECK_BOUNDS[torch.float16], err
        t_causal, t_span = timed(causal_call, reps=10), timed(span_call, reps=10)
        kk16, vv16 = (x.repeat_interleave(4, 1).contiguous() for x in (kk, vv))
        qc = qq.contiguous()
        t_sdpa = timed(functools.partial(F.scaled_dot_product_attention, qc, kk16, vv16, attn_mask=mask, scale=0.088),
                       reps=10)
        t_flex = None
        if flex is not None:
            try:
                span_id = torch.full((n,), -1, device="cuda", dtype=torch.int32)
                for i, (a, b) in enumerate(spans):
                    span_id[a : b + 1] = i

                def mask_mod(b, h, qi, ki, span_id=span_id):
                    return (ki <= qi) | ((span_id[qi] == span_id[ki]) & (span_id[qi] >= 0))

                block_mask = create_block_mask(mask_mod, None, None, n, n, device="cuda")
                flex_call = functools.partial(flex, qc, kk16, vv16, block_mask=block_mask, scale=0.088)
                flex_call()
                t_flex = timed(flex_call, reps=10)
            except Exception as exc:
                print(f"FlexAttention failed: {type(exc).__name__}: {str(exc)[:120]}")
        best_peer = min(t for t in (t_sdpa, t_flex) if t)
        label = f"{images}x{image_tokens}"
        print(f"{n:>6} {label:>12} {t_causal * 1e6:10.1f} {t_span * 1e6:9.1f} {t_span / t_causal:8.2f} {err:8.1e} "
              f"{t_sdpa * 1e6:12.1f} {'n/a' if t_flex is None else f'{t_flex * 1e6:8.1f}':>8} "
              f"{best_peer / t_span:14.2f}")


def main() -> None:
    gen = torch.Generator(device="cuda").manual_seed(0)
    if "--spans" in sys.argv:
        print(f"card: {torch.cuda.get_device_name()}; torch {torch.__version__}; "
              f"triton {__import__('triton').__version__}")
        spans_table(gen)
        return
    if "--sweep" in sys.argv:  # --sweep [N ...]: sequence lengths, default 8192
        lengths = [int(a) for a in sys.argv[sys.argv.index("--sweep") + 1 :]] or [8192]
        for n in lengths:
            prefill_sweep(gen, n)
        return
    card = torch.cuda.get_device_name()
    copy_bw = copy_bandwidth()
    print(f"card: {card}; torch {torch.__version__}; triton {__import__('triton').__version__}; "
          f"device copy rate measured now: {copy_bw / 1e12:.2f} TB/s (read + write)")
    for dtype, err in check(gen).items():
        print(f"correctness vs SDPA float32, {dtype} inputs: max rel err {err:.1e} (bound {CHECK_BOUNDS[dtype]:.1e})")
    if "--check" in sys.argv:
        return
    rows = []
    for batch in (1, 16, 64, 128):
        for ctx in (1024, 4096, 16384):
            t = decode_time(batch, ctx, 16, gen)
            kv_bytes = batch * ctx * 8 * 128 * 2 * 2
            rows.append((batch, ctx, t * 1e6, kv_bytes / t / 1e12, kv_bytes / t / copy_bw))
    print(f"\ndecode, 32 q heads / 8 KV heads x 128, fp16 KV, block 16, {card}")
    print(f"{'batch':>5} {'context':>7} {'us':>9} {'TB/s':>6} {'of copy':>11}")
    for b, c, us, tbs, frac in rows:
        print(f"{b:>5} {c:>7} {us:9.1f} {tbs:6.2f} {frac:11.0%}")
    print(f"\ndecode, block size 64 (tiles inside blocks), fraction of the copy rate per K/V read, {card}")
    print(f"{'batch':>5} {'context':>7} " + " ".join(f"{m:>8}" for m in KV_LOADS[:3]))
    for batch, ctx in ((1, 1024), (16, 4096), (64, 4096), (16, 16384), (64, 16384)):
        kv_bytes = batch * ctx * 8 * 128 * 2 * 2
        times = [decode_time(batch, ctx, 64, gen, m) for m in KV_LOADS[:3]]
        print(f"{batch:>5} {ctx:>7} " + " ".join(f"{kv_bytes / t / copy_bw:8.0%}" for t in times)
              + f"   ({min(times) * 1e6:.1f} us)")
    print(f"\nprefill, causal, 32 heads x 128, fp16, one sequence, block size 64, TFLOP/s, {card}")
    print("K/V reads: gather = block table per position; block = one lookup per tile (portable default);")
    print("desc = tensor descriptors (TMA; default on Hopper); desc+new = desc, the new tokens read from the")
    print("step's QKV views instead of the cache; each with the plan's default tiles for its read")
    backends = sdpa_backends()
    print("SDPA columns: torch's default choice, then each backend forced (same run)")
    print(f"{'seq':>6} " + " ".join(f"{m:>8}" for m in KV_LOADS) + f" {'SDPA':>8} "
          + " ".join(f"{b:>9}" for b in backends) + f" {'best/best SDPA':>14}")
    for n in (1024, 2048, 4096, 8192):
        q, kc, vc, table, qsl, seq = make_batch(1, n, n, 32, 32, 128, 64, torch.float16, gen)
        qkv = step_qkv(q, kc, vc, table, 1, n, n)
        out = torch.empty_like(q)
        flops = 4 * n * n * 32 * 128 / 2
        tf = [flops / timed(bind(m, q, kc, vc, qsl, seq, table, 1, n, 0.088, out, qkv), reps=10) / 1e12
              for m in KV_LOADS]
        qq, kk, vv = (x.transpose(0, 1).unsqueeze(0).contiguous() for x in qkv)
        sdpa_call = functools.partial(F.scaled_dot_product_attention, qq, kk, vv, is_causal=True)
        print(f"{n:>6} " + with_sdpa_columns(tf, sdpa_call, flops, backends))

    print(f"\nprefill with GQA (32 q / 8 KV heads x 128, Llama-3-8B), fp16, block size 64, TFLOP/s, {card}")
    print(f"{'cached+new':>11} " + " ".join(f"{m:>8}" for m in KV_LOADS) + f" {'SDPA':>8} "
          + " ".join(f"{b:>9}" for b in backends) + f" {'best/best SDPA':>14}")
    for cached, new in ((0, 1024), (0, 2048), (0, 4096), (0, 8192), (1024, 1024), (4096, 4096)):
        ctx = cached + new
        q, kc, vc, table, qsl, seq = make_batch(1, ctx, new, 32, 8, 128, 64, torch.float16, gen)
        qkv = step_qkv(q, kc, vc, table, 1, ctx, new)
        out = torch.empty_like(q)
        flops = 4 * 32 * 128 * (new * cached + new * new / 2)
        tf = [flops / timed(bind(m, q, kc, vc, qsl, seq, table, 1, new, 0.088, out, qkv), reps=10) / 1e12
              for m in KV_LOADS]
        k, v = dense_kv(kc, vc, table, ctx, 0)
        qq, kk, vv = (x.transpose(0, 1).unsqueeze(0).contiguous() for x in (q, k, v))
        mask = causal_lower_right(new, ctx)
        sdpa_call = functools.partial(F.scaled_dot_product_attention, qq, kk, vv, attn_mask=mask, enable_gqa=True)
        if not cached:  # causal from the first position: the peers' is_causal path (cuDNN takes it)
            sdpa_call = functools.partial(F.scaled_dot_product_attention, qq, kk, vv, is_causal=True, enable_gqa=True)
        print(f"{f'{cached}+{new}':>11} " + with_sdpa_columns(tf, sdpa_call, flops, backends))


if __name__ == "__main__":
    main()
