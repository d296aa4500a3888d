"""tools/intel_compile: the ocloc output parsers, check/format_table, and one real offline compile.

The parser samples are excerpts of real ``ocloc disasm`` output (ocloc 26.27, IGC 2.40) for the plugin's
``_lowbit_dequant_kernel`` and ``_lowbit_gemm_kernel`` on PVC, a block-pointer matmul (2D block IO) and a
kernel calling a function that does not exist (an undefined import).

The end-to-end tests install the toolchain (``toolchain.sh``: network on the first run only) and compile
for real; they are skipped only when IPEX_PLUGIN_SKIP_INTEL_COMPILE=1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.intel_compile import driver, runner
from vllm_ipex_plugin import envs

ZE_INFO_GEMM_PVC_128 = """\
---
version:         '1.73'
kernels:
  - name:            _lowbit_gemm_kernel
    user_attributes:
      intel_reqd_sub_group_size: 16
      intel_reqd_workgroup_walk_order: [ 0, 1, 2 ]
    execution_env:
      barrier_count:   1
      grf_count:       128
      has_4gb_buffers: true
      has_dpas:        true
      has_global_atomics: true
      has_no_stateless_write: true
      require_disable_eufusion: true
      indirect_stateless_count: 157
      offset_to_skip_per_thread_data_load: 256
      simd_size:       16
      spill_size:      23488
      subgroup_independent_forward_progress: true
      eu_thread_count: 8
    payload_arguments:
      - arg_type:        arg_bypointer
        offset:          0
        size:            8
"""

ZE_INFO_DEQUANT_PVC = """\
---
version:         '1.73'
kernels:
  - name:            _lowbit_dequant_kernel
    user_attributes:
      intel_reqd_sub_group_size: 32
      intel_reqd_workgroup_walk_order: [ 0, 1, 2 ]
    execution_env:
      barrier_count:   1
      grf_count:       128
      has_4gb_buffers: true
      has_no_stateless_write: true
      offset_to_skip_per_thread_data_load: 256
      simd_size:       32
      subgroup_independent_forward_progress: true
      eu_thread_count: 8
    payload_arguments:
      - arg_type:        arg_bypointer
        offset:          0
        size:            8
        arg_index:       12
"""

# Lines of the PVC ISA listings (.text.<kernel>.asm), kept verbatim in a file: they are wider than the
# project's line length.
ASM_SAMPLE = (Path(__file__).parent / "ocloc_samples" / "pvc_excerpt.asm").read_text()

SYMTAB_DEQUANT = """\
Id, Name, Section, Value, Type, Visibility, Binding
0, UNDEF, UNDEF, 0, 0, 0, 0
1, _entry, .text._lowbit_dequant_kernel, 384, 0, 0, 0
2, _lowbit_dequant_kernel, .text._lowbit_dequant_kernel, 0, 2, 0, 0
3, .rela.debug_info, .debug_info, 0, 1, 0, 0
4, .text._lowbit_dequant_kernel, .debug_info, 0, 1, 0, 0
5, .debug_loc, .debug_info, 0, 1, 0, 0
6, UNDEF, .debug_info, 0, 1, 0, 0
7, .rela.debug_line, .debug_frame, 0, 1, 0, 0
8, .text._lowbit_dequant_kernel, .debug_frame, 0, 1, 0, 0
9, .text._lowbit_dequant_kernel, .debug_line, 0, 1, 0, 0
10, __INTEL_PATCH_CROSS_THREAD_OFFSET_OFF_R0, UNDEF, 0, 0, 0, 1
"""

SYMTAB_MISSING_FN = """\
Id, Name, Section, Value, Type, Visibility, Binding
0, UNDEF, UNDEF, 0, 0, 0, 0
1, _entry, .text.calls_missing, 336, 0, 0, 0
2, calls_missing, .text.calls_missing, 0, 2, 0, 0
3, _entry, .text.Intel_Symbol_Table_Void_Program, 32, 0, 0, 0
4, Intel_Symbol_Table_Void_Program, .text.Intel_Symbol_Table_Void_Program, 0, 2, 0, 0
5, .debug_abbrev, .debug_info, 0, 1, 0, 0
6, UNDEF, .debug_info, 0, 1, 0, 0
7, .debug_frame, .debug_frame, 0, 1, 0, 0
8, UNDEF, .debug_frame, 0, 1, 0, 0
9, UNDEF, .debug_line, 0, 1, 0, 0
10, __INTEL_PATCH_CROSS_THREAD_OFFSET_OFF_R0, UNDEF, 0, 0, 0, 1
11, __intel_compile_missing_fn, UNDEF, 0, 0, 0, 1
"""

OCLOC_LOG_SPILL = """\
warning: in kernel '_lowbit_gemm_kernel': [RetryManager] Start recompilation of the kernel
warning: in kernel '_lowbit_gemm_kernel': compiled SIMD16 allocated 128 regs and spilled around 367
Build succeeded.
"""


def test_ze_info_spilling_dpas_kernel():
    info = driver.parse_ze_info(ZE_INFO_GEMM_PVC_128)
    assert info["grf_count"] == 128
    assert info["simd_size"] == 16
    assert info["spill_size"] == 23488
    assert info["has_dpas"] is True
    assert info["execution_env"]["indirect_stateless_count"] == 157
    assert "offset" not in info["execution_env"]  # payload_arguments are not part of execution_env


def test_ze_info_omits_zero_spills_and_false_dpas():
    info = driver.parse_ze_info(ZE_INFO_DEQUANT_PVC)
    assert (info["grf_count"], info["simd_size"], info["spill_size"], info["has_dpas"]) == (128, 32, 0, False)


def test_asm_counts():
    assert driver.count_dpas(ASM_SAMPLE) == 2
    assert driver.count_block2d(ASM_SAMPLE, "load") == 2  # rd:31, into registers
    assert driver.count_block2d(ASM_SAMPLE, "prefetch") == 1  # load_block2d to null, rd:0
    assert driver.count_block2d(ASM_SAMPLE, "store") == 1
    ops = driver.asm_opcodes(ASM_SAMPLE)
    assert ops[:4] == ["mov", "send.ugm", "sync.nop", "dpas.8x8"]
    assert "L0" not in ops and "L1" not in ops
    assert len(ops) == 11


def test_symtab_runtime_patch_symbol_is_not_an_import():
    assert driver.undefined_symbols(SYMTAB_DEQUANT) == []


def test_symtab_undefined_import():
    assert driver.undefined_symbols(SYMTAB_MISSING_FN) == ["__intel_compile_missing_fn"]


def test_ocloc_warnings():
    assert len(driver.parse_ocloc_warnings(OCLOC_LOG_SPILL)) == 2


def _result(**kw):
    base = {"label": "k", "arch": "dg2", "spirv_ok": True, "native_ok": True, "error": None, "grf_mode": "128",
            "spill_bytes": 0, "dpas_count": 0, "block2d_load_count": 0, "block2d_store_count": 0,
            "undefined_imports": [], "compile_seconds": 1.0}
    return {**base, **kw}


def test_check_budget_errors_and_imports():
    budget = {"pvc": 0, "bmg": 0, "dg2": 8192}
    assert runner.check([_result(spill_bytes=8192)], budget) == []
    assert len(runner.check([_result(spill_bytes=8193)], budget)) == 1
    assert len(runner.check([_result(arch="pvc", spill_bytes=64)], budget)) == 1
    assert runner.check([_result(arch="lnl", spill_bytes=10**6)], budget) == []  # no budget for that arch
    # build errors and undefined imports fail whatever the budget
    assert "native build failed: boom" in runner.check([_result(native_ok=False, error="boom\nmore")], None)[0]
    assert "timeout failed" in runner.check([_result(spirv_ok=False, failure="timeout", error="t")], budget)[0]
    assert "undefined imports f" in runner.check([_result(undefined_imports=["f"])], {"dg2": 10**9})[0]


def test_format_table():
    table = runner.format_table([_result(dpas_count=32, spill_bytes=17024, grf_mode="256"),
                                 _result(native_ok=False, error="total scratch | space exceeds")])
    lines = table.splitlines()
    assert lines[0].startswith("| case | arch | builds | GRF | spill B | DPAS |")
    assert "| k | dg2 | ok | 256 | 17024 | 32 | 0/0 | 1.0 |" in lines[2]
    assert "native FAIL" in lines[3] and "scratch \\| space" in lines[3]


def test_cache_key_ignores_labels_but_not_options():
    case = {"module": "m", "function": "f", "arch": "pvc", "options": {"num_warps": 4}}
    key = runner.case_key(case, "d", "v")
    assert runner.case_key({**case, "name": "other"}, "d", "v") == key
    assert runner.case_key({**case, "options": {"num_warps": 8}}, "d", "v") != key
    assert runner.case_key({**case, "arch": "dg2"}, "d", "v") != key
    assert runner.case_key(case, "d2", "v") != key and runner.case_key(case, "d", "v2") != key


def test_a_constexpr_left_at_its_default_is_compiled_as_a_constexpr():
    """A launch that leaves a defaulted constexpr out (``SWAP`` of the fused GEMM) gets the default bound as
    a constexpr, as the runtime JIT does; typed as a runtime argument, both of its branches would be built."""
    from tools.intel_compile.cases import _case
    from vllm_ipex_plugin.kernels.lowbit.gemm import _lowbit_gemm_kernel

    constexprs = {"FMT": 0, "HAS_BIAS": False, "BM": 16, "BN": 64, "BK": 128, "SPLIT_K": 1, "GROUP_M": 8, "QB": 64}
    case = _case(_lowbit_gemm_kernel, constexprs, {}, 4, 3, {}, "gemm")
    assert case["constexprs"]["SWAP"] is False
    assert "SWAP" not in case["signature"]
    assert set(case["signature"]) | set(case["constexprs"]) == set(_lowbit_gemm_kernel.arg_names)


# ------------------------------------------------------------------------------------------- end to end

SKIP_ENV = envs.SKIP_INTEL_COMPILE
e2e = pytest.mark.skipif(envs.skip_intel_compile(), reason=f"{SKIP_ENV}=1")

_PTR = {"q_ptr": "*u8", "q2_ptr": "*u8", "s_ptr": "*fp16", "m_ptr": "*fp16", "code_ptr": "*fp32", "w_ptr": "*fp16"}
_INT = ("N", "K", "stride_qn", "stride_q2n", "stride_sn", "stride_wn")


def dequant_case(arch: str) -> dict:
    """``_lowbit_dequant_kernel`` for sym_int4 as ``lowbit_dequantize`` launches it (num_warps=4), with
    the 16-byte alignment Triton infers at launch for aligned pointers and strides."""
    return {
        "name": "dequant_sym_int4",
        "module": "vllm_ipex_plugin.kernels.lowbit.dequantize",
        "function": "_lowbit_dequant_kernel",
        "signature": {**_PTR, **dict.fromkeys(_INT, "i32")},
        "constexprs": {"FMT": 0, "BN": 32, "BK": 128, "QB": 64},
        "divisible_by_16": [*_PTR, *_INT[1:]],
        "options": {"num_warps": 4, "num_stages": 2, "grf_mode": "auto"},
        "arch": arch,
    }


@pytest.fixture(scope="module")
def toolchain_dir():
    try:
        return runner.ensure_toolchain()
    except runner.ToolchainError as e:
        pytest.fail(f"toolchain.sh failed ({e}); set {SKIP_ENV}=1 to skip the offline Intel compile")


@e2e
def test_dequant_kernel_builds_for_pvc_and_dg2_and_is_cached(toolchain_dir, tmp_path):
    cases = [dequant_case("pvc"), dequant_case("dg2")]
    first = runner.run_cases(cases, results_dir=tmp_path, toolchain_dir=toolchain_dir)
    for r in first:
        assert r["error"] is None, r["error"]
        assert r["spirv_ok"] and r["native_ok"] and not r["from_cache"]
        assert r["grf_mode"] == "128" and r["grf_count"] == 128  # no spills: the runtime keeps 128 GRF
        assert r["spill_bytes"] == 0
        assert r["simd_size"] in (16, 32)
        assert r["dpas_count"] == 0 and r["has_dpas"] is False  # no tl.dot in this kernel
        assert r["block2d_load_count"] >= 0
        assert r["undefined_imports"] == []
        assert 0 < r["native_seconds"] <= r["compile_seconds"] < runner.DEFAULT_TIMEOUT
    assert runner.check(first, {"pvc": 0, "bmg": 0, "dg2": 8192}) == []
    assert len(list(tmp_path.glob("*.json"))) == 2

    second = runner.run_cases(cases, results_dir=tmp_path, toolchain_dir=toolchain_dir)
    assert [r["from_cache"] for r in second] == [True, True]
    strip = lambda r: {k: v for k, v in r.items() if k != "from_cache"}
    assert [strip(r) for r in second] == [strip(r) for r in first]


@e2e
def test_crashing_compiler_process_is_a_failed_case(toolchain_dir, tmp_path):
    case = {"module": "tests.intel_compile_check._abort_on_import", "function": "k", "signature": {},
            "arch": "dg2"}
    (r,) = runner.run_cases([case], results_dir=tmp_path, toolchain_dir=toolchain_dir, timeout=120)
    assert r["failure"] == "crash" and "SIGABRT" in r["error"]
    assert not r["native_ok"]
    assert runner.check([r]) and "CRASH" in runner.format_table([r])


@e2e
def test_a_crash_or_a_hang_loses_only_its_own_case(toolchain_dir, tmp_path):
    """One worker, one arch: the compiler process that aborts on the first case and the one that hangs
    on the second are replaced, and the third case still builds."""
    broken = {"function": "k", "signature": {}, "arch": "dg2"}
    cases = [{**broken, "module": "tests.intel_compile_check._abort_on_import"},
             {**broken, "module": "tests.intel_compile_check._hang_on_import"}, dequant_case("dg2")]
    crash, hang, ok = runner.run_cases(cases, jobs=1, results_dir=tmp_path, toolchain_dir=toolchain_dir, timeout=30)
    assert crash["failure"] == "crash" and "SIGABRT" in crash["error"]
    assert hang["failure"] == "timeout" and hang["error"] == "timed out after 30 s"
    assert ok["native_ok"] and ok["error"] is None and not ok["from_cache"]
    assert len(list(tmp_path.glob("*.json"))) == 2  # a timeout is not cached
