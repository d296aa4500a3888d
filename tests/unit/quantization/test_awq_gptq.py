"""``AwqGptqLinearMethod`` layer by layer, and the refusal of configs it cannot run.

Each variant's public tensors (``tests/harness/public_checkpoints.py``, round-to-nearest codes) go
through create_weights -> the loader -> process_weights_after_loading (conversion) -> apply.
Reference: ``x.double() @ W.double().T`` with ``W`` computed from the integer codes before
packing; bound 1e-5 relative (the conversion is exact, float32 activations). On the torch
reference path and on the Triton kernels (interpreted).
"""

from __future__ import annotations

import pytest
import torch

from tests.harness.public_checkpoints import VARIANTS, encode_public, public_quant_config
from tests.triton_interpreter import import_interpreted, interpreter_env  # noqa: F401
from tests.unit.quantization.layers import load_layer, rel_err, single_rank  # noqa: F401
from vllm_ipex_plugin import envs
from vllm_ipex_plugin.quantization.awq_gptq import AwqGptqLinearMethod, parse_public_config

import_interpreted("vllm_ipex_plugin.kernels.lowbit.matmul")

BOUND = 1e-5
N, K = 128, 256


def _layer(variant: str, gen: torch.Generator):
    spec = dict(VARIANTS[variant])
    desc_act = spec.pop("desc_act", False)
    perm = torch.randperm(K, generator=gen) if desc_act else None
    tensors, w = encode_public(torch.randn(N, K, generator=gen) * 0.05, perm=perm, **spec)
    method = AwqGptqLinearMethod(parse_public_config(public_quant_config(desc_act=desc_act, **spec)),
                                 "model.layers.0.self_attn.o_proj")
    layer = load_layer(method, tensors, N, K)
    assert (layer.input_perm is not None) == desc_act
    assert not any(hasattr(layer, name) for name in tensors)  # the public tensors are freed
    return method, layer, w


@pytest.mark.parametrize("kernel", ["torch", "triton"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_layer_matches_the_encoded_weights(variant, kernel, monkeypatch):
    if kernel == "triton":
        monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setenv(envs.LOWBIT_KERNEL, kernel)
    gen = torch.Generator().manual_seed(hash(variant) % 2**31)
    method, layer, w = _layer(variant, gen)
    bias = torch.randn(N, generator=gen)
    for m in (1, 6, 300):  # GEMV, fused GEMM, dequantize + dense on the Triton path
        x = torch.randn(2, m, K, generator=gen)  # 3-D, as vLLM may pass it
        y = method.apply(layer, x, bias)
        assert y.shape == (2, m, N)
        ref = x.double() @ w.double().T + bias.double()
        assert rel_err(y, ref) < BOUND, (variant, kernel, m)


@pytest.mark.parametrize(
    "config,message",
    [
        ({"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemv"}, "AWQ checkpoint in the GEMV layout"),
        ({"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": False}, "without zero points"),
        ({"quant_method": "gptq", "bits": 8, "group_size": 128, "sym": False}, "Asymmetric 8-bit GPTQ"),
        ({"quant_method": "gptq", "bits": 4, "group_size": 48}, "group size 48"),
    ],
)
def test_unsupported_configs_are_refused(config, message):
    with pytest.raises(ValueError, match=message):
        parse_public_config(config)


def test_tensor_that_does_not_fit_is_one_line():
    tensors, _ = encode_public(torch.randn(N, K), "gptq", group=64)
    method = AwqGptqLinearMethod(parse_public_config(public_quant_config("gptq", group=128)), "model.layers.0.mlp")
    with pytest.raises(ValueError, match=r"model\.layers\.0\.mlp\.qzeros: checkpoint tensor of shape \(4, 16\) does "
                                         r"not fit the parameter \(2, 16\)"):
        load_layer(method, tensors, N, K)


def _qkv_layer(perms: dict[str, torch.Tensor], gen: torch.Generator):
    """vLLM's fused QKVParallelLinear on the GPTQ act-order config, each shard loaded through the
    layer's own weight loader with its shard id (as the model loader does for q/k/v_proj)."""
    from vllm.model_executor.layers.linear import QKVParallelLinear

    from vllm_ipex_plugin.quantization.config import IpexLowBitConfig

    hidden, head, heads, kv_heads = K, 32, 4, 2
    config = IpexLowBitConfig.from_config(public_quant_config("gptq", group=64, desc_act=True))
    layer = QKVParallelLinear(hidden, head, heads, kv_heads, bias=False, quant_config=config,
                              prefix="model.layers.0.self_attn.qkv_proj")
    weights = []
    for shard, n in (("q", heads * head), ("k", kv_heads * head), ("v", kv_heads * head)):
        tensors, w = encode_public(torch.randn(n, hidden, generator=gen) * 0.05, "gptq", group=64, perm=perms[shard])
        weights.append(w)
        for name, t in tensors.items():
            param = getattr(layer, name)
            param.weight_loader(param, t, shard)
    layer.quant_method.process_weights_after_loading(layer)
    return layer, torch.cat(weights)


@pytest.mark.usefixtures("single_rank")
def test_fused_shards_sharing_an_act_order_match_the_encoded_weights():
    gen = torch.Generator().manual_seed(7)
    perm = torch.randperm(K, generator=gen)
    layer, w = _qkv_layer({"q": perm, "k": perm, "v": perm}, gen)
    x = torch.randn(5, K, generator=gen)
    y = layer.quant_method.apply(layer, x, None)
    assert rel_err(y, x.double() @ w.double().T) < BOUND


@pytest.mark.usefixtures("single_rank")
def test_fused_shards_with_different_act_orders_are_refused():
    """Each shard's g_idx load overwrites the fused layer's one g_idx: q and k would run with v's
    input order (wrong tokens, no error) unless the loader refuses."""
    gen = torch.Generator().manual_seed(8)
    perm = torch.randperm(K, generator=gen)
    with pytest.raises(ValueError, match=r"model\.layers\.0\.self_attn\.qkv_proj: shards 'q' and 'k' of this fused "
                                         r"layer carry different act-order permutations \(g_idx\)"):
        _qkv_layer({"q": perm, "k": torch.randperm(K, generator=gen), "v": perm}, gen)
