"""The compile cases of the Intel check: the launches the plugin plans on PVC, BMG and DG2 (and the word-wise GEMV).

Nothing here chooses a configuration, except the word-wise GEMV's portability cases
(``w4_portability_cases``). For a Llama-3-8B-shaped model the plugin's own planning code is
asked what it would launch on each Intel target (``kernels.common.device.INTEL_TARGETS``):
``kernels.lowbit.matmul.plan_launches`` for every format, linear shape and batch bucket,
``kernels.lowbit.quantize_kernel.quantize_launch`` for quantize-on-load, and
``kernels.attention.launch.launch_configs`` for every attention step shape, head size and block size.
This module only turns each planned launch into a driver case: the kernel's argument types (from the
format's tensor dtypes and the model dtype), 16-byte alignment of pointers and strides (what Triton's
launcher infers for vLLM's tensors), and the launch's compile options. Distinct cases are compiled
once however many shapes plan them.

Imports the plugin's kernels package (torch + the project's Triton), never vLLM.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any

import torch

from vllm_ipex_plugin.kernels.attention.launch import launch_configs
from vllm_ipex_plugin.kernels.common.device import INTEL_TARGETS, DeviceFacts
from vllm_ipex_plugin.kernels.lowbit.formats import FORMATS, LowBitFormat
from vllm_ipex_plugin.kernels.lowbit.gemm import gemm_launch
from vllm_ipex_plugin.kernels.lowbit.gemv import H16_FORMATS, W4_FORMATS, gemv_launch
from vllm_ipex_plugin.kernels.lowbit.matmul import plan_launches
from vllm_ipex_plugin.kernels.lowbit.quantize_kernel import quantize_launch
from vllm_ipex_plugin.kernels.lowbit.tuning import table
from vllm_ipex_plugin.kernels.lowbit.tuning.table import GEMM_BUCKETS


@dataclass(frozen=True)
class ModelShape:
    """The shapes one tensor-parallel rank of a dense decoder sees."""

    name: str
    hidden: int
    intermediate: int
    num_heads: int
    num_kv_heads: int
    head_size: int
    vocab: int

    def linears(self) -> dict[str, tuple[int, int]]:
        """``name -> (K, N)`` (input, output) of every linear layer, lm_head included."""
        qkv = (self.num_heads + 2 * self.num_kv_heads) * self.head_size
        return {"qkv": (self.hidden, qkv), "o": (self.num_heads * self.head_size, self.hidden),
                "gate_up": (self.hidden, 2 * self.intermediate), "down": (self.intermediate, self.hidden),
                "lm_head": (self.hidden, self.vocab)}


LLAMA3_8B = ModelShape("Llama-3-8B", 4096, 14336, 32, 8, 128, 128256)
# Head sizes the attention kernels take (padded ones included) and the cache block sizes to cover.
HEAD_SIZES = (64, 80, 96, 128, 256)
BLOCK_SIZES = (16, 64)
MODEL_DTYPE = torch.float16  # the dtype every Intel card runs (Arc A-series has no reliable bf16)
BATCH_ROWS = (1, *GEMM_BUCKETS)

_TRITON_TYPE = {torch.float16: "fp16", torch.bfloat16: "bf16", torch.float32: "fp32", torch.uint8: "u8",
                torch.int8: "i8", torch.int16: "i16", torch.int32: "i32", torch.int64: "i64"}
# The plugin's launch option -> the driver's GRF mode ("auto": Triton's runtime default and retry).
_GRF = {"small": "128", "large": "256", None: "auto"}


def _ptr(dtype: torch.dtype) -> str:
    return "*" + _TRITON_TYPE[dtype]


def _lowbit_types(spec: LowBitFormat, constexprs: dict[str, Any], x_dtype: torch.dtype,
                  split_in_kernel: bool = False) -> dict[str, str]:
    """Argument types of the low-bit kernels: payloads, scales and mins as the format stores them
    (a format without scales or mins passes its payload in their place), ``y`` in float32 when
    split-K accumulates into it with atomics (the GEMM; the GEMVs, ``split_in_kernel``, sum in their
    fp32 workspace and write ``y`` in the activations' dtype), the paired GEMV's activations as 32-bit words."""
    shapes = {name: dtype for name, dtype, _ in spec.tensors}
    payload = shapes[spec.payload]
    scales = shapes.get("scales", payload)
    out = torch.float32 if constexprs.get("SPLIT_K", 1) > 1 and not split_in_kernel else x_dtype
    return {
        "x_ptr": "*i32" if constexprs.get("X_KIND") else _ptr(x_dtype), "q_ptr": _ptr(payload),
        "q2_ptr": _ptr(shapes.get("qhigh", payload)), "s_ptr": _ptr(scales),
        "m_ptr": _ptr(shapes.get("mins", scales)), "code_ptr": "*fp32", "y_ptr": _ptr(out),
        "bias_ptr": _ptr(x_dtype), "w_ptr": _ptr(x_dtype), "mids_ptr": "*fp32", "ws_ptr": "*fp32", "cnt_ptr": "*i32",
    }


def _attention_types(dtype: torch.dtype) -> dict[str, str]:
    """Argument types of the three attention kernels (one map covers every pointer they take)."""
    t = _ptr(dtype)
    types = {"q_ptr": t, "kc_ptr": t, "vc_ptr": t, "k_desc": t, "v_desc": t, "kn_desc": t, "vn_desc": t,
             "out_ptr": t, "part_ptr": "*fp32", "ml_ptr": "*fp32", "qb_req_ptr": "*i32", "qb_start_ptr": "*i32",
             "qsl_ptr": "*i32", "seq_ptr": "*i32", "bt_ptr": "*i32", "mm_ptr": "*i32", "key_ptr": t, "value_ptr": t,
             "slot_ptr": "*i64", "scale": "fp32", "soft_cap": "fp32"}
    return types


def _constexpr_defaults(fn: Any) -> dict[str, Any]:
    """The kernel's ``tl.constexpr`` parameters that have a default, with it (the Python function's
    signature: the jitted and the interpreted kernel objects expose it alike)."""
    return {name: p.default for name, p in inspect.signature(fn).parameters.items()
            if p.default is not inspect.Parameter.empty and "constexpr" in str(p.annotation)}


def _case(fn: Any, constexprs: dict[str, Any], pointer_types: dict[str, str], num_warps: int | None,
          num_stages: int | None, options: dict[str, Any], label: str) -> dict[str, Any]:
    """A driver case: every runtime argument typed (pointers from ``pointer_types``, the rest i32),
    pointers and strides marked 16-byte divisible."""
    jit = getattr(fn, "fn", fn)
    # a constexpr the launch leaves at its default is still a constexpr (the runtime JIT binds it so);
    # typed as a runtime argument instead, its branches would all be compiled
    constexprs = {**_constexpr_defaults(jit), **constexprs}
    signature, divisible = {}, []
    for arg in fn.arg_names:
        if arg in constexprs:
            continue
        signature[arg] = pointer_types.get(arg, "i32")
        if signature[arg].startswith("*") or arg.startswith("stride") or arg == "K":
            divisible.append(arg)
    opts = {k: v for k, v in options.items() if k not in ("grf_mode", "enable_fp_fusion")}
    opts["grf_mode"] = _GRF[options.get("grf_mode")]
    if num_warps is not None:
        opts["num_warps"] = num_warps
    if num_stages is not None:
        opts["num_stages"] = num_stages
    return {"name": label, "module": jit.__module__, "function": jit.__name__, "signature": signature,
            "constexprs": {k: (float(v) if isinstance(v, float) else v) for k, v in constexprs.items()},
            "divisible_by_16": divisible, "options": opts}


def lowbit_cases(facts: DeviceFacts, model: ModelShape = LLAMA3_8B) -> list[dict[str, Any]]:
    """GEMV / GEMM / dequantize launches for every quantized format, linear layer and batch bucket,
    AWQ/GPTQ-converted asym_int4 (32 columns per scale) included; and quantize-on-load."""
    cases = []
    for spec in FORMATS.values():
        if not spec.quantized:
            continue
        qbs = (64, 32) if spec.name == "asym_int4" else (64,)
        for layer, (k, n) in model.linears().items():
            for qb in qbs:
                for m in BATCH_ROWS:
                    for launch in plan_launches(spec, m, n, k, facts, qb=qb, x_dtype=MODEL_DTYPE):
                        label = f"{launch.function} {spec.name} qb{qb} ({layer} {k}x{n}, M={m})"
                        types = _lowbit_types(spec, launch.constexprs, MODEL_DTYPE, "ws_ptr" in launch.fn.arg_names)
                        cases.append(_case(launch.fn, launch.constexprs, types,
                                           launch.num_warps, launch.num_stages, launch.options, label))
            launch = quantize_launch(spec, n, k, facts)
            cases.append(_case(launch.fn, launch.constexprs, _lowbit_types(spec, launch.constexprs, MODEL_DTYPE),
                               launch.num_warps, launch.num_stages, launch.options,
                               f"quantize {spec.name} ({layer} {k}x{n})"))
    return cases + w4_portability_cases(facts, model)


# Rows and K tile of a word-wise GEMV program that amortizes the activations over several rows
# at about four words per lane on Intel's 16-lane warps (16 rows x 1024 columns spill on PVC).
W4_ROWS = (8, 256)
SPLIT = 4  # K split of the split-K variants (Intel's tiles split only small layers, which Llama-3-8B lacks)
# The word-wise GEMVs only CUDA's tuned tables choose today: configuration key -> formats it takes.
WORD_GEMVS = (("W4", W4_FORMATS), ("H16", H16_FORMATS))
# The transposed GEMM tile (``SWAP``), likewise chosen by CUDA's tables only: one format per decode
# branch of the weight-tile loader, at the arch's tiles of three batch buckets.
SWAP_FORMATS = ("sym_int4", "asym_int4", "fp6", "fp8_e4m3")
SWAP_BATCHES = (16, 64, 256)


def _word_highs_type(spec: LowBitFormat) -> str:
    """The word-wise GEMVs' ``q2_ptr`` as ``gemv.run_gemv`` passes it: fp6's high plane as int16 (one
    element per payload word), else the payload's int32 view (unread)."""
    return _ptr(torch.int16) if "qhigh" in {name for name, _, _ in spec.tensors} else "*i32"


def w4_portability_cases(facts: DeviceFacts, model: ModelShape = LLAMA3_8B) -> list[dict[str, Any]]:
    """The word-wise GEMVs (``W4``: 4-bit; ``H16``: fp16-pair products of 4-bit, fp6, int8 and fp8 codes),
    which only CUDA's tuned tables choose, built for each arch with its own GEMV configuration
    (``tuning/intel.py``) and with ``W4_ROWS``, K unsplit and split (as is the generic GEMV); and the
    transposed GEMM tile (``SWAP``) at the arch's GEMM tiles: the kernels and the split-K workspace
    store must stay within what triton-xpu lowers and within the spill budget, so that an Intel table
    can pick them."""
    cases = []
    for key, format_ids in WORD_GEMVS:
        for spec in (spec for spec in FORMATS.values() if spec.id in format_ids):
            for qb in ((64, 32) if spec.name == "asym_int4" else (64,)):
                for layer, (k, n) in model.linears().items():
                    arch_cfg = table.config_for("gemv", spec.name, 1, n, k, facts)
                    # the arch's tile; several rows; several rows with K split (the workspace store)
                    for rows, bk, split in ((arch_cfg["BN"], arch_cfg["BK"], 1), (*W4_ROWS, 1), (*W4_ROWS, SPLIT)):
                        cfg = {**arch_cfg, key: True, "BN": rows, "BK": bk, "SPLIT_K": split}
                        launch = gemv_launch(spec, 1, n, k, cfg, facts, qb=qb, x_dtype=MODEL_DTYPE)
                        types = {**_lowbit_types(spec, launch.constexprs, MODEL_DTYPE, True), "q_ptr": "*i32",
                                 "q2_ptr": _word_highs_type(spec)}
                        cases.append(_case(launch.fn, launch.constexprs, types, launch.num_warps, launch.num_stages,
                                           launch.options, f"{launch.function} {spec.name} qb{qb} ({layer} {k}x{n}, "
                                                           f"M=1, {rows} rows, split {split})"))
    for name in SWAP_FORMATS:  # the transposed GEMM tile at the arch's own tile of each batch bucket
        spec, (k, n) = FORMATS[name], model.linears()["gate_up"]
        for m in SWAP_BATCHES:
            cfg = {**table.config_for("gemm", spec.name, m, n, k, facts), "SWAP": True}
            launch = gemm_launch(spec, m, n, k, cfg, facts=facts)
            cases.append(_case(launch.fn, launch.constexprs, _lowbit_types(spec, launch.constexprs, MODEL_DTYPE),
                               launch.num_warps, launch.num_stages, launch.options,
                               f"{launch.function} swap {spec.name} qb64 (gate_up {k}x{n}, M={m})"))
    spec, (k, n) = FORMATS["sym_int4"], model.linears()["down"]
    cfg = {**table.config_for("gemv", spec.name, 1, n, k, facts), "SPLIT_K": SPLIT}  # the generic GEMV, split
    launch = gemv_launch(spec, 1, n, k, cfg, facts, x_dtype=MODEL_DTYPE)
    cases.append(_case(launch.fn, launch.constexprs, _lowbit_types(spec, launch.constexprs, MODEL_DTYPE, True),
                       launch.num_warps, launch.num_stages, launch.options,
                       f"{launch.function} {spec.name} qb64 (down {k}x{n}, M=1, split {SPLIT})"))
    return cases


# Image spans per request of a multimodal prefix LM's steps (Gemma3, PaliGemma: one per image).
MM_SPANS = 2
VARIANT_LABELS = (("sliding_window", " window+cap"), ("mm_ranges", " image spans"), ("clamp_spans", " clamped"))


def attention_cases(facts: DeviceFacts, model: ModelShape = LLAMA3_8B) -> list[dict[str, Any]]:
    """Every attention launch for the model's head counts at each head size and block size, plain
    and with a sliding window + soft-capping (Gemma-2 style); and at block size 16, the launches
    of steps with bidirectional image spans (``MM_SPANS`` per request), plain and clamped to a
    sliding window (Gemma4's sliding layers)."""
    cases = []
    for head_size in HEAD_SIZES:
        for block_size in BLOCK_SIZES:
            variants = [{}, {"sliding_window": 4096, "logits_soft_cap": 50.0}]
            if block_size == 16:
                variants += [{"mm_ranges": MM_SPANS},
                             {"sliding_window": 4096, "logits_soft_cap": 50.0, "mm_ranges": MM_SPANS,
                              "clamp_spans": True}]
            for extras in variants:
                variant = "".join(label for key, label in VARIANT_LABELS if key in extras)
                for launch in launch_configs(facts, head_size, model.num_heads, model.num_kv_heads, block_size,
                                             MODEL_DTYPE, **extras):
                    label = f"{launch.name} d{head_size} block{block_size}{variant} ({'; '.join(launch.cases)})"
                    cases.append(_case(launch.kernel, launch.constexprs, _attention_types(MODEL_DTYPE),
                                       launch.num_warps, launch.num_stages, getattr(launch, "options", {}), label))
    return cases


def plugin_cases(archs: tuple[str, ...] = tuple(INTEL_TARGETS)) -> list[dict[str, Any]]:
    """The distinct cases for ``archs`` (one per kernel, configuration and arch; the first planned
    label names it, with the count of launches that share it)."""
    distinct: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for arch in archs:
        facts = INTEL_TARGETS[arch]
        for case in lowbit_cases(facts) + attention_cases(facts):
            case["arch"] = arch
            key = json.dumps({k: v for k, v in case.items() if k != "name"}, sort_keys=True)
            distinct.setdefault(key, case)
            counts[key] = counts.get(key, 0) + 1
    for key, case in distinct.items():
        if counts[key] > 1:
            case["name"] += f" + {counts[key] - 1} more"
    return list(distinct.values())
