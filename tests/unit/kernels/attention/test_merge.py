"""The split merge under TRITON_INTERPRET=1, in each launch form the plan makes (CUDA: wide
chunks; Intel and elsewhere: 8 splits per step), against a float64 merge of the same partials.

Partials are what the paged kernel stores per split: an unnormalised accumulator row, its
maximum in log2 units and its sum; splits without any key have maximum -inf and sum 0. Bound:
max abs error 1e-5 (float32 in the interpreter, outputs of magnitude about 1).
"""

from __future__ import annotations

import pytest
import torch

from tests.triton_interpreter import import_interpreted, interpreter_env  # noqa: F401

merge = import_interpreted("vllm_ipex_plugin.kernels.attention.merge")

from vllm_ipex_plugin.kernels.attention.plan import merge_config  # noqa: E402
from vllm_ipex_plugin.kernels.common.device import CPU_FACTS, INTEL_TARGETS, DeviceFacts  # noqa: E402

pytestmark = pytest.mark.usefixtures("interpreter_env")

H100 = DeviceFacts("NVIDIA H100 80GB HBM3", "cuda", "sm90", 132, has_dpas=True, has_2d_block_io=True,
                   cuda_capability=(9, 0))
TOKENS, HEADS = 3, 4


def _reference(part, ml, splits, d):
    m, lse = ml[..., 0].double(), ml[..., 1].double()  # [rows, splits]
    m_max = m.max(dim=1, keepdim=True).values
    w = torch.where(torch.isinf(m), 0.0, torch.exp2(m - torch.where(torch.isinf(m_max), 0.0, m_max)))
    denom = (w * lse).sum(1, keepdim=True)
    out = (part.double()[..., :d] * w[..., None]).sum(1) / torch.where(denom == 0, 1.0, denom)
    return out.view(TOKENS, HEADS, d)


@pytest.mark.parametrize("facts", [H100, INTEL_TARGETS["dg2"], CPU_FACTS], ids=["cuda", "dg2", "cpu"])
@pytest.mark.parametrize("splits,head_size", [(3, 64), (17, 80), (32, 128), (32, 256)])
def test_merge_matches_float64(facts, splits, head_size):
    config = merge_config(splits, head_size, facts)
    dp = config.constexprs["DP"]
    gen = torch.Generator().manual_seed(splits + head_size)
    rows = TOKENS * HEADS
    part = torch.randn(rows, splits, dp, generator=gen)
    ml = torch.stack((torch.randn(rows, splits, generator=gen) * 4, torch.rand(rows, splits, generator=gen) + 0.5), -1)
    ml[0, 1:] = torch.tensor([float("-inf"), 0.0])  # a row whose keys all sit in split 0
    ml[1] = torch.tensor([float("-inf"), 0.0])  # a row without any key: zeros out
    out = torch.full((TOKENS, HEADS, head_size), float("nan"))
    merge.merge_splits_kernel[(rows,)](part.flatten(), ml.flatten(), out, HEADS, out.stride(0), out.stride(1),
                                       splits, **{k: v for k, v in config.kwargs().items() if k != "grf_mode"})
    expected = _reference(part, ml, splits, head_size)
    assert torch.equal(out[0, 1], torch.zeros(head_size))
    assert (out.double() - expected).abs().max().item() < 1e-5
