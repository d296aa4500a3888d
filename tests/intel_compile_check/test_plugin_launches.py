"""Every launch the plugin plans for PVC, BMG and DG2 builds with Intel's own compiler, within budget.

The cases are what the plugin's planning code returns for a Llama-3-8B-shaped model on each
Intel target (``tools/intel_compile/cases.py``); each is lowered by triton-xpu and built by
ocloc in its own process (cached by kernel source, configuration and arch). A build error or an
undefined import fails; a spill above ``SPILL_BUDGET`` fails unless it is one of
``KNOWN_OVER_BUDGET`` and stays under that entry's ceiling. Each known entry must still match
an over-budget launch, so a fixed kernel removes its entry (the list only shrinks).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pytest

from tools.intel_compile import runner
from tools.intel_compile.cases import plugin_cases
from tools.intel_compile.check import SPILL_BUDGET
from vllm_ipex_plugin import envs
from vllm_ipex_plugin.kernels.lowbit.formats import QUANTIZED
from vllm_ipex_plugin.kernels.lowbit.tuning.intel import BLOCK_IO_SPILLS

FORMAT_NAMES = {int(spec.id): spec.name for spec in QUANTIZED}


@dataclass(frozen=True)
class KnownSpill:
    """Launches of ``function`` on ``archs`` whose constexprs include ``where`` may spill up to
    ``ceiling`` bytes until the kernel changes; ``why`` says what the compile check showed."""

    function: str
    archs: tuple[str, ...]
    where: dict[str, Any]
    ceiling: int
    why: str

    def matches(self, result: dict[str, Any]) -> bool:
        case = result["case"]
        return (case["function"] == self.function and result["arch"] in self.archs
                and all(case["constexprs"].get(k) == v for k, v in self.where.items()))


# Empty: every planned launch is within budget (head-256 prefill on PVC/BMG was the last entry,
# until its programs took one column slice of the head each: docs/decisions.md).
KNOWN_OVER_BUDGET: tuple[KnownSpill, ...] = ()


@pytest.fixture(scope="module")
def results():
    if envs.skip_intel_compile():
        pytest.skip(f"{envs.SKIP_INTEL_COMPILE}=1")
    try:
        runner.ensure_toolchain()
    except runner.ToolchainError as e:
        pytest.fail(f"toolchain.sh failed ({e}); set {envs.SKIP_INTEL_COMPILE}=1 to skip the offline Intel compile")
    return runner.run_cases(plugin_cases(), jobs=os.cpu_count())


def _over_budget(r: dict[str, Any]) -> bool:
    return (r.get("spill_bytes") or 0) > SPILL_BUDGET[r["arch"]]


def test_every_planned_launch_builds_without_undefined_imports(results):
    broken = [f for r in results for f in runner.check([r]) if not _over_budget(r) or not r.get("native_ok")]
    assert not broken, "\n".join(broken)


def test_spills_stay_within_budget_or_a_known_ceiling(results):
    unexplained = []
    for r in results:
        if not r.get("native_ok") or not _over_budget(r):
            continue
        known = [k for k in KNOWN_OVER_BUDGET if k.matches(r)]
        if not known or r["spill_bytes"] > min(k.ceiling for k in known):
            unexplained.append(f"{r['label']} on {r['arch']}: {r['spill_bytes']} bytes spilled "
                               f"(budget {SPILL_BUDGET[r['arch']]})")
    assert not unexplained, "\n".join(unexplained)


def test_known_spills_are_still_there(results):
    """A known entry that no launch needs any more must go (the list only shrinks)."""
    stale = [k.why for k in KNOWN_OVER_BUDGET if not any(k.matches(r) and _over_budget(r) for r in results)]
    assert not stale, stale


def test_the_check_covers_every_kernel_on_every_arch(results):
    kernels = {"_lowbit_gemv_kernel", "_lowbit_gemv_w4_kernel", "_lowbit_gemv_h16_kernel", "_lowbit_gemm_kernel",
               "_lowbit_dequant_kernel",
               "_quantize_kernel",
               "paged_attn_kernel", "merge_splits_kernel", "write_kv_kernel"}
    covered = {(r["case"]["function"], r["arch"]) for r in results}
    assert covered == {(k, a) for k in kernels for a in SPILL_BUDGET}


def test_matrix_units_are_used_where_the_hardware_has_them(results):
    """DPAS in the fused GEMM and in attention on PVC and BMG (Triton's Intel backend has no DPAS
    lowering for DG2: FMA dots there)."""
    for r in results:
        fn = r["case"]["function"]
        if fn in ("_lowbit_gemm_kernel", "paged_attn_kernel") and r["arch"] in ("pvc", "bmg") and r.get("native_ok"):
            assert r["dpas_count"] > 0, f"{r['label']} on {r['arch']}: no DPAS instruction"


def test_the_fused_gemm_reads_its_activations_with_2d_block_loads_where_the_hardware_has_them(results):
    """PVC and BMG (2D block IO): the plain tile's activations go through a block pointer and come out
    of the compiler as 2D block reads (the swapped tile and the tiles in ``BLOCK_IO_SPILLS`` keep plain
    loads); DG2 has no 2D block IO and keeps plain loads."""
    gemms = [r for r in results if r["case"]["function"] == "_lowbit_gemm_kernel" and r.get("native_ok")]
    assert gemms
    for r in gemms:
        c = r["case"]["constexprs"]
        block_io = (r["arch"] in ("pvc", "bmg") and not c["SWAP"]
                    and (FORMAT_NAMES[c["FMT"]], c["BM"], c["BN"]) not in BLOCK_IO_SPILLS)
        assert c["X_BLOCK_IO"] is block_io, f"{r['label']} on {r['arch']}"
        if block_io:
            assert r["block2d_load_count"] > 0, f"{r['label']} on {r['arch']}: no 2D block read"
