"""sym_int4 M=1 GEMV layouts probed on the H200 (issue 17; not adopted, docs/decisions.md).

Each variant differs from the shipped fp16-pair GEMV (``kernels/lowbit/gemv.py``) in how the
activations meet the payload words; none scales the activations, so inputs must stay well inside
fp16's range (the benchmark's do). ``gemv_layout_bench.py`` times them; ``gemv_sass.py`` counts their
instructions offline.
"""
import triton
import triton.language as tl

from vllm_ipex_plugin.kernels.lowbit.decode import split_k_range, store_gemv_row


@triton.jit
def _lanes(v):
    lo = v.to(tl.int16).to(tl.float16, bitcast=True)
    hi = (v >> 16).to(tl.int16).to(tl.float16, bitcast=True)
    return lo, hi


@triton.jit
def gemv_join(x_ptr, q_ptr, s_ptr, y_ptr, bias_ptr, ws_ptr, cnt_ptr, M, N, K, stride_xm, stride_qn, stride_sn,
              stride_ym, BN: tl.constexpr, BK: tl.constexpr, SPLIT_K: tl.constexpr, QB: tl.constexpr):
    """H16 with each word's two lanes joined into a trailing pair dimension."""
    pid_n = tl.program_id(0)
    row = tl.program_id(1)
    pid_k = tl.program_id(2)
    offs_n = pid_n * BN + tl.arange(0, BN)
    n_mask = offs_n < N
    k_start, k_end = split_k_range(K, BK, SPLIT_K, pid_k)
    G: tl.constexpr = BK // QB
    WG: tl.constexpr = QB // 8
    rows = offs_n[:, None, None]
    rmask = n_mask[:, None, None]
    wi = tl.arange(0, G)[:, None] * WG + tl.arange(0, WG)[None, :]
    acc = tl.zeros((BN, G, WG), dtype=tl.float32)
    x_row = x_ptr + row * stride_xm
    for k0 in range(k_start, k_end, BK):
        w = tl.load(q_ptr + rows * stride_qn + k0 // 8 + wi[None], mask=rmask, other=0)
        sidx = rows * stride_sn + k0 // QB + tl.arange(0, G)[None, :, None]
        # activations as [G, WG, 2(half), 4(c)]: column 8j + 4h + c
        xt = tl.load(x_row + k0 + 8 * wi[:, :, None] + tl.arange(0, 8)[None, None, :]).to(tl.float32)
        xh = (xt * (1.0 / 64.0)).to(tl.float16)
        x4 = tl.reshape(xh, (G, WG, 2, 2, 2))
        xa, xb = tl.split(x4)          # c odd/even: [G, WG, 2, 2] (h, a) where c = 2a + b
        x0, x2 = tl.split(xa)          # [G, WG, 2] over h
        x1, x3 = tl.split(xb)
        lo, hi = _lanes(w & 0x000F000F | 0x64006400)
        p = (tl.join(lo, hi) - 1032.0) * x0[None]
        lo, hi = _lanes((w >> 4) & 0x000F000F | 0x64006400)
        p += (tl.join(lo, hi) - 1032.0) * x1[None]
        lo, hi = _lanes((w >> 8) & 0x000F000F | 0x64006400)
        p += (tl.join(lo, hi) - 1032.0) * x2[None]
        lo, hi = _lanes((w >> 12) & 0x000F000F | 0x64006400)
        p += (tl.join(lo, hi) - 1032.0) * x3[None]
        part = tl.sum(p.to(tl.float32), axis=3)
        s = tl.load(s_ptr + sidx, mask=rmask, other=0.0).to(tl.float32)
        acc += part * s
    out = tl.sum(tl.sum(acc, axis=2), axis=1) * 64.0
    store_gemv_row(out, y_ptr + row * stride_ym, bias_ptr, offs_n, n_mask, pid_k, False, SPLIT_K,
                   ws_ptr + row * N, cnt_ptr + row * tl.num_programs(0) + pid_n)


@triton.jit
def gemv_i16(x_ptr, q_ptr, s_ptr, y_ptr, bias_ptr, ws_ptr, cnt_ptr, M, N, K, stride_xm, stride_qn, stride_sn,
             stride_ym, BN: tl.constexpr, BK: tl.constexpr, SPLIT_K: tl.constexpr, QB: tl.constexpr):
    """Payload as int16 (4 codes each, column 4e + c at bits 4c): fp16 lanes are tensor elements."""
    pid_n = tl.program_id(0)
    row = tl.program_id(1)
    pid_k = tl.program_id(2)
    offs_n = pid_n * BN + tl.arange(0, BN)
    n_mask = offs_n < N
    k_start, k_end = split_k_range(K, BK, SPLIT_K, pid_k)
    G: tl.constexpr = BK // QB
    E: tl.constexpr = QB // 4
    rows = offs_n[:, None, None]
    rmask = n_mask[:, None, None]
    ei = tl.arange(0, G)[:, None] * E + tl.arange(0, E)[None, :]
    acc = tl.zeros((BN, G, E), dtype=tl.float32)
    x_row = x_ptr + row * stride_xm
    for k0 in range(k_start, k_end, BK):
        w = tl.load(q_ptr + rows * stride_qn + k0 // 4 + ei[None], mask=rmask, other=0)
        sidx = rows * stride_sn + k0 // QB + tl.arange(0, G)[None, :, None]
        xt = tl.load(x_row + k0 + 4 * ei[:, :, None] + tl.arange(0, 4)[None, None, :])
        xh = (xt.to(tl.float32) * (1.0 / 64.0)).to(tl.float16)
        xa, xb = tl.split(tl.reshape(xh, (G, E, 2, 2)))
        x0, x2 = tl.split(xa)
        x1, x3 = tl.split(xb)
        c = ((w & 0x000F) | 0x6400).to(tl.float16, bitcast=True) - 1032.0
        p = c * x0[None]
        c = (((w >> 4) & 0x000F) | 0x6400).to(tl.float16, bitcast=True) - 1032.0
        p += c * x1[None]
        c = (((w >> 8) & 0x000F) | 0x6400).to(tl.float16, bitcast=True) - 1032.0
        p += c * x2[None]
        c = (((w >> 12) & 0x000F) | 0x6400).to(tl.float16, bitcast=True) - 1032.0
        p += c * x3[None]
        s = tl.load(s_ptr + sidx, mask=rmask, other=0.0).to(tl.float32)
        acc += p.to(tl.float32) * s
    out = tl.sum(tl.sum(acc, axis=2), axis=1) * 64.0
    store_gemv_row(out, y_ptr + row * stride_ym, bias_ptr, offs_n, n_mask, pid_k, False, SPLIT_K,
                   ws_ptr + row * N, cnt_ptr + row * tl.num_programs(0) + pid_n)


@triton.jit
def gemv_x4d(x_ptr, q_ptr, s_ptr, y_ptr, bias_ptr, ws_ptr, cnt_ptr, M, N, K, stride_xm, stride_qn, stride_sn,
             stride_ym, BN: tl.constexpr, BK: tl.constexpr, SPLIT_K: tl.constexpr, QB: tl.constexpr):
    """E1: x loaded per row as a broadcast [BN, G, WG, 8] tile, split in registers."""
    pid_n = tl.program_id(0)
    row = tl.program_id(1)
    pid_k = tl.program_id(2)
    offs_n = pid_n * BN + tl.arange(0, BN)
    n_mask = offs_n < N
    k_start, k_end = split_k_range(K, BK, SPLIT_K, pid_k)
    G: tl.constexpr = BK // QB
    WG: tl.constexpr = QB // 8
    rows = offs_n[:, None, None]
    rmask = n_mask[:, None, None]
    wi = tl.arange(0, G)[:, None] * WG + tl.arange(0, WG)[None, :]
    acc = tl.zeros((BN, G, WG), dtype=tl.float32)
    x_row = x_ptr + row * stride_xm
    zero_rows = (rows * 0)[:, :, :, None]
    for k0 in range(k_start, k_end, BK):
        w = tl.load(q_ptr + rows * stride_qn + k0 // 8 + wi[None], mask=rmask, other=0)
        sidx = rows * stride_sn + k0 // QB + tl.arange(0, G)[None, :, None]
        xt = tl.load(x_row + zero_rows + k0 + 8 * wi[None, :, :, None] + tl.arange(0, 8)[None, None, None, :])
        xe, xo = tl.split(tl.reshape(xt, (BN, G, WG, 2, 2, 2)))
        xee, xeo = tl.split(xe)
        xoe, xoo = tl.split(xo)
        x0, x4 = tl.split(xee)
        x2, x6 = tl.split(xeo)
        x1, x5 = tl.split(xoe)
        x3, x7 = tl.split(xoo)
        lo, hi = _lanes(w & 0x000F000F | 0x64006400)
        plo = (lo - 1032.0) * x0
        phi = (hi - 1032.0) * x4
        lo, hi = _lanes((w >> 4) & 0x000F000F | 0x64006400)
        plo += (lo - 1032.0) * x1
        phi += (hi - 1032.0) * x5
        lo, hi = _lanes((w >> 8) & 0x000F000F | 0x64006400)
        plo += (lo - 1032.0) * x2
        phi += (hi - 1032.0) * x6
        lo, hi = _lanes((w >> 12) & 0x000F000F | 0x64006400)
        plo += (lo - 1032.0) * x3
        phi += (hi - 1032.0) * x7
        s = tl.load(s_ptr + sidx, mask=rmask, other=0.0).to(tl.float32)
        acc += (plo + phi).to(tl.float32) * s
    out = tl.sum(tl.sum(acc, axis=2), axis=1)
    store_gemv_row(out, y_ptr + row * stride_ym, bias_ptr, offs_n, n_mask, pid_k, False, SPLIT_K,
                   ws_ptr + row * N, cnt_ptr + row * tl.num_programs(0) + pid_n)


@triton.jit
def gemv_perm(x_ptr, q_ptr, s_ptr, y_ptr, bias_ptr, ws_ptr, cnt_ptr, M, N, K, stride_xm, stride_qn, stride_sn,
              stride_ym, BN: tl.constexpr, BK: tl.constexpr, SPLIT_K: tl.constexpr, QB: tl.constexpr):
    """E2: payload permuted in 32-column chunks (word i of a chunk, nibble c: column 4c + i), so that each
    code position's activations for a thread's four words are four contiguous values, loaded in w's shape."""
    pid_n = tl.program_id(0)
    row = tl.program_id(1)
    pid_k = tl.program_id(2)
    offs_n = pid_n * BN + tl.arange(0, BN)
    n_mask = offs_n < N
    k_start, k_end = split_k_range(K, BK, SPLIT_K, pid_k)
    G: tl.constexpr = BK // QB
    WG: tl.constexpr = QB // 8
    rows = offs_n[:, None, None]
    rmask = n_mask[:, None, None]
    wi = tl.arange(0, G)[:, None] * WG + tl.arange(0, WG)[None, :]
    acc = tl.zeros((BN, G, WG), dtype=tl.float32)
    x_row = x_ptr + row * stride_xm
    xcol = (wi // 4) * 32 + wi % 4  # column of nibble 0 of each word
    xbase = x_row + rows * 0 + xcol[None]
    for k0 in range(k_start, k_end, BK):
        w = tl.load(q_ptr + rows * stride_qn + k0 // 8 + wi[None], mask=rmask, other=0)
        sidx = rows * stride_sn + k0 // QB + tl.arange(0, G)[None, :, None]
        xp = xbase + k0
        lo, hi = _lanes(w & 0x000F000F | 0x64006400)
        plo = (lo - 1032.0) * tl.load(xp)
        phi = (hi - 1032.0) * tl.load(xp + 16)
        lo, hi = _lanes((w >> 4) & 0x000F000F | 0x64006400)
        plo += (lo - 1032.0) * tl.load(xp + 4)
        phi += (hi - 1032.0) * tl.load(xp + 20)
        lo, hi = _lanes((w >> 8) & 0x000F000F | 0x64006400)
        plo += (lo - 1032.0) * tl.load(xp + 8)
        phi += (hi - 1032.0) * tl.load(xp + 24)
        lo, hi = _lanes((w >> 12) & 0x000F000F | 0x64006400)
        plo += (lo - 1032.0) * tl.load(xp + 12)
        phi += (hi - 1032.0) * tl.load(xp + 28)
        s = tl.load(s_ptr + sidx, mask=rmask, other=0.0).to(tl.float32)
        acc += (plo + phi).to(tl.float32) * s
    out = tl.sum(tl.sum(acc, axis=2), axis=1)
    store_gemv_row(out, y_ptr + row * stride_ym, bias_ptr, offs_n, n_mask, pid_k, False, SPLIT_K,
                   ws_ptr + row * N, cnt_ptr + row * tl.num_programs(0) + pid_n)


@triton.jit
def _pair(v):
    """An int32 tensor as fp16 lane pairs [..., 2] (low half first)."""
    return tl.join(v.to(tl.int16).to(tl.float16, bitcast=True), (v >> 16).to(tl.int16).to(tl.float16, bitcast=True))


@triton.jit
def gemv_pj(x_ptr, q_ptr, s_ptr, y_ptr, bias_ptr, ws_ptr, cnt_ptr, M, N, K, stride_xm, stride_qn, stride_sn,
            stride_ym, BN: tl.constexpr, BK: tl.constexpr, SPLIT_K: tl.constexpr, QB: tl.constexpr):
    """Payload nibbles permuted within each word: nibble c (< 4) holds column 8w + 2c, nibble c + 4 column
    8w + 2c + 1, so that lane pair c of a word meets the activations' natural 32-bit pair c (x_ptr: int32)."""
    pid_n = tl.program_id(0)
    row = tl.program_id(1)
    pid_k = tl.program_id(2)
    offs_n = pid_n * BN + tl.arange(0, BN)
    n_mask = offs_n < N
    k_start, k_end = split_k_range(K, BK, SPLIT_K, pid_k)
    G: tl.constexpr = BK // QB
    WG: tl.constexpr = QB // 8
    rows = offs_n[:, None, None]
    rmask = n_mask[:, None, None]
    wi = tl.arange(0, G)[:, None] * WG + tl.arange(0, WG)[None, :]
    acc = tl.zeros((BN, G, WG), dtype=tl.float32)
    x_row = x_ptr + row * stride_xm
    xbase = x_row + rows * 0 + 4 * wi[None]
    for k0 in range(k_start, k_end, BK):
        w = tl.load(q_ptr + rows * stride_qn + k0 // 8 + wi[None], mask=rmask, other=0)
        sidx = rows * stride_sn + k0 // QB + tl.arange(0, G)[None, :, None]
        xp = xbase + k0 // 2
        p = (_pair(w & 0x000F000F | 0x64006400) - 1032.0) * _pair(tl.load(xp))
        p += (_pair((w >> 4) & 0x000F000F | 0x64006400) - 1032.0) * _pair(tl.load(xp + 1))
        p += (_pair((w >> 8) & 0x000F000F | 0x64006400) - 1032.0) * _pair(tl.load(xp + 2))
        p += (_pair((w >> 12) & 0x000F000F | 0x64006400) - 1032.0) * _pair(tl.load(xp + 3))
        lo, hi = tl.split(p)
        s = tl.load(s_ptr + sidx, mask=rmask, other=0.0).to(tl.float32)
        acc += (lo + hi).to(tl.float32) * s
    out = tl.sum(tl.sum(acc, axis=2), axis=1)
    store_gemv_row(out, y_ptr + row * stride_ym, bias_ptr, offs_n, n_mask, pid_k, False, SPLIT_K,
                   ws_ptr + row * N, cnt_ptr + row * tl.num_programs(0) + pid_n)
