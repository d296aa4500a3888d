"""AWQ and GPTQ checkpoints served by ``ipex_low_bit`` (as asym_int4, or sym_int8 for 8-bit GPTQ).

``IpexLowBitConfig.override_quantization_method`` routes a checkpoint whose
``quantization_config.quant_method`` is ``awq`` or ``gptq`` here when the user asked for
``--quantization ipex_low_bit``, or (IPEX-LLM's spelling) ``--quantization awq|gptq``
while the plugin's platform is active. vLLM's own AWQ/GPTQ classes are not touched.

``create_weights`` registers the public tensors with vLLM's loader attributes (so tensor
parallel sharding and fused q/k/v, gate/up loading stay vLLM's); after loading, each
layer is converted once to the kernels' layout (``kernels/lowbit/awq_gptq.py``) and runs
through ``base.LowBitLinearMethod`` like any asym_int4 / sym_int8 layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from vllm.model_executor.utils import set_weight_attrs

from vllm_ipex_plugin.kernels.lowbit import awq_gptq
from vllm_ipex_plugin.quantization.base import LowBitLinearMethod


@dataclass(frozen=True)
class PublicQuantSpec:
    source: str  # "awq" | "gptq"
    bits: int
    group_size: int  # -1: one group per input row (per channel)
    zeros_offset: int  # GPTQ v1 stores zero - 1

    @property
    def target_format(self) -> str:
        return "asym_int4" if self.bits == 4 else "sym_int8"

    def group_for(self, k: int) -> int:
        return k if self.group_size == -1 else self.group_size


def parse_public_config(config: dict) -> PublicQuantSpec:
    """Validate an AWQ/GPTQ ``quantization_config``; raise one clear error otherwise."""
    source = str(config.get("quant_method", "")).lower()
    bits = int(config.get("bits", config.get("w_bit", 4)))
    group = int(config.get("group_size", config.get("q_group_size", 128)))
    if source == "awq":
        version = str(config.get("version", "gemm")).lower()
        if version != "gemm":
            raise ValueError(
                f"AWQ checkpoint in the {version.upper()} layout: ipex_low_bit reads the GEMM layout only; "
                "re-export the model with version='gemm'."
            )
        if not config.get("zero_point", True):
            raise ValueError("AWQ checkpoint without zero points (zero_point=false) is not supported by ipex_low_bit.")
        if bits != 4:
            raise ValueError(f"AWQ checkpoint with {bits}-bit weights: ipex_low_bit runs 4-bit AWQ only.")
    elif source == "gptq":
        if bits == 8 and not config.get("sym", True):
            raise ValueError("Asymmetric 8-bit GPTQ is not supported by ipex_low_bit; use symmetric 8-bit or 4-bit.")
        if bits not in (4, 8):
            raise ValueError(
                f"GPTQ checkpoint with {bits}-bit weights: ipex_low_bit runs 4-bit GPTQ (as asym_int4) and "
                "symmetric 8-bit GPTQ (as sym_int8) only."
            )
    else:
        raise ValueError(f"not an AWQ/GPTQ quantization_config: quant_method={source!r}")
    if group != -1 and group != 32 and group % 64:
        raise ValueError(f"{source.upper()} group size {group}: ipex_low_bit supports 32, multiples of 64 and -1.")
    if bits == 8 and group == 32:
        raise ValueError("8-bit GPTQ with group size 32 is not supported by ipex_low_bit (sym_int8 uses blocks of 64).")
    v2 = str(config.get("checkpoint_format", "gptq")).lower() == "gptq_v2"
    return PublicQuantSpec(source, bits, group, 0 if (source == "awq" or v2) else 1)


class AwqGptqLinearMethod(LowBitLinearMethod):
    buffer_prefix = "lowbit_"

    def __init__(self, spec: PublicQuantSpec, prefix: str) -> None:
        self.spec = spec
        self.prefix = prefix

    def create_weights(self, layer, input_size_per_partition: int, output_partition_sizes: list[int],
                       input_size: int, output_size: int, params_dtype: torch.dtype, **extra_weight_attrs) -> None:
        spec = self.spec
        n, k = sum(output_partition_sizes), input_size_per_partition
        group = spec.group_for(input_size)
        pack = 32 // spec.bits
        if k % group and spec.group_size != -1:
            raise ValueError(f"{self.prefix}: input size {k} per shard is not a multiple of group size {group}")
        if n % pack or k % 64:
            raise ValueError(
                f"{self.prefix}: shape [{n}, {k}] does not fit {spec.source.upper()} {spec.bits}-bit packing"
            )
        groups = 1 if spec.group_size == -1 else k // group
        weight_loader = extra_weight_attrs["weight_loader"]
        if spec.source == "awq":
            shapes = {
                "qweight": ((k, n // pack), torch.int32, 0, 1, 1),
                "qzeros": ((groups, n // pack), torch.int32, 0, 1, 1),
                "scales": ((groups, n), params_dtype, 0, 1, None),
            }
        else:
            shapes = {
                "qweight": ((k // pack, n), torch.int32, 0, 1, 0),
                "qzeros": ((groups, n // pack), torch.int32, 0, 1, 1),
                "scales": ((groups, n), params_dtype, 0, 1, None),
                "g_idx": ((k,), torch.int32, 0, None, None),
            }
        for name, (shape, dtype, in_dim, out_dim, packed_dim) in shapes.items():
            param = torch.nn.Parameter(torch.empty(shape, dtype=dtype), requires_grad=False)
            attrs = {"input_dim": in_dim, "output_dim": out_dim, "weight_loader": _checked(weight_loader, self.prefix,
                                                                                           name, dtype)}
            if packed_dim is not None:
                attrs.update(packed_dim=packed_dim, packed_factor=pack)
            if name == "g_idx":
                attrs["ignore_warning"] = True  # q/k/v (gate/up) share their input's g_idx
            if spec.group_size == -1 and name in ("qzeros", "scales"):
                attrs["input_dim"] = None  # one group: not sharded along the input
            layer.register_parameter(name, param)
            set_weight_attrs(param, {a: v for a, v in attrs.items() if v is not None or a == "output_dim"})
        layer.ipex_public_group = group if spec.group_size != -1 else k

    def process_weights_after_loading(self, layer) -> None:
        spec = self.spec
        names = ("qweight", "qzeros", "scales", "g_idx") if spec.source == "gptq" else ("qweight", "qzeros", "scales")
        public = {name: getattr(layer, name).data for name in names}
        for name in names:
            delattr(layer, name)
        if "g_idx" in public:
            public["g_idx"] = _shard_local_groups(public["g_idx"])
        try:
            if spec.bits == 4:
                tensors, perm = awq_gptq.to_asym_int4(spec.source, public, layer.ipex_public_group, spec.zeros_offset)
            else:
                tensors, perm = awq_gptq.gptq8_to_sym_int8(public, layer.ipex_public_group, spec.zeros_offset)
        except ValueError as e:
            tp = getattr(layer, "tp_size", 1)
            if "g_idx" in public and tp > 1 and getattr(layer, "input_is_parallel", False):
                raise ValueError(
                    f"{self.prefix}: this GPTQ checkpoint's act-order permutation (g_idx) moves columns across the "
                    f"{tp} tensor-parallel shards of a row-parallel layer, and each shard holds only its own groups' "
                    "scales; serve it with tensor_parallel_size=1 (pipeline parallelism is fine) or use a "
                    f"checkpoint without desc_act ({e})"
                ) from e
            raise
        self.install(layer, tensors, spec.target_format, perm.long() if perm is not None else None)


def _shard_local_groups(g_idx: torch.Tensor) -> torch.Tensor:
    """``g_idx`` counted from the shard's first group. vLLM shards a row-parallel layer's scales and
    zeros along the input with its columns, so a tensor-parallel shard holds its own groups only,
    while the checkpoint's ``g_idx`` names groups of the whole layer (unsharded layers: unchanged,
    their first group is 0)."""
    return g_idx - g_idx.min() if g_idx.numel() else g_idx


def _checked(loader, prefix: str, name: str, dtype: torch.dtype):
    def load(param, loaded_weight, *args, **kwargs):
        want_float = dtype.is_floating_point
        if loaded_weight.dtype.is_floating_point != want_float:
            raise ValueError(
                f"{prefix}.{name}: checkpoint tensor is {loaded_weight.dtype}, expected "
                f"{'a float' if want_float else 'int32'} tensor for this AWQ/GPTQ layout."
            )
        if name == "g_idx":
            _check_same_act_order(param, loaded_weight, prefix, args[0] if args else kwargs.get("loaded_shard_id"))
        try:
            return loader(param, loaded_weight, *args, **kwargs)
        except (AssertionError, RuntimeError):
            raise ValueError(
                f"{prefix}.{name}: checkpoint tensor of shape {tuple(loaded_weight.shape)} does not fit the "
                f"parameter {tuple(param.shape)} that the model config implies; check bits and group_size "
                "in its quantization_config."
            ) from None

    return load


def _check_same_act_order(param: torch.nn.Parameter, g_idx: torch.Tensor, prefix: str, shard: object) -> None:
    """Refuse a fused layer whose shards (q/k/v, gate/up) carry different act-order ``g_idx``.

    A fused layer holds one ``g_idx`` for the input its shards share, and each shard's load
    overwrites it; the kernels reorder the input once per layer. GPTQ derives the order from
    that shared input, so real checkpoints agree; one that does not would run every shard but
    the last with the wrong order (wrong tokens, no error)."""
    first = getattr(param, "ipex_first_g_idx", None)
    if first is None:
        param.ipex_first_g_idx = (shard, g_idx.detach().clone())
        return
    first_shard, first_g_idx = first
    if first_g_idx.shape == g_idx.shape and not torch.equal(first_g_idx, g_idx):
        raise ValueError(
            f"{prefix}: shards {first_shard!r} and {shard!r} of this fused layer carry different act-order "
            "permutations (g_idx) for their shared input; ipex_low_bit reorders a fused layer's input once. "
            "Quantize the fused projections (q/k/v, gate/up) with one act-order, or without act-order "
            "(desc_act=false)."
        )
