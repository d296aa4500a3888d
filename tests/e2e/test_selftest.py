"""``python -m vllm_ipex_plugin.selftest`` in host mode: every kernel check and the LLM() run pass;
a check that fails makes the exit status non-zero and is named in the report."""

from __future__ import annotations

import re

import pytest

from tests.harness.runners import run_python_module
from vllm_ipex_plugin import envs
from vllm_ipex_plugin.kernels.lowbit.formats import QUANTIZED
from vllm_ipex_plugin.selftest import ATTENTION_CASES


@pytest.mark.e2e
def test_selftest_passes_in_host_mode():
    proc = run_python_module("vllm_ipex_plugin.selftest", timeout=900, **{envs.HOST_MODE: "1"})
    report = proc.stdout
    assert proc.returncode == 0, report + proc.stderr[-3000:]
    expected = len(QUANTIZED) * 4 + len(ATTENTION_CASES) + 1
    assert f"{expected} of {expected} checks passed" in report, report
    assert "ready: serves on the CPU in host mode" in report
    assert re.search(r"PASS  LLM\(\) greedy on the demo model .* platform XpuHostPlatform, .*Paris", report), report
    for spec in QUANTIZED:
        assert re.search(rf"PASS  matmul {spec.name} M=1 \(GEMV\) ", report), spec.name
    assert re.search(r"PASS  matmul sym_int4 M=8 \(fused GEMM\) ", report)
    assert re.search(r"PASS  matmul sym_int4 M=300 \(dequantize \+ dense\) ", report)


@pytest.mark.e2e
def test_a_failing_check_is_reported_and_exits_non_zero(tmp_path):
    missing = tmp_path / "no-model-here"
    proc = run_python_module("vllm_ipex_plugin.selftest", "--model", str(missing), timeout=600,
                             **{envs.HOST_MODE: "1"})
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    assert re.search(rf"FAIL  LLM\(\) greedy on {re.escape(str(missing))} ", proc.stdout), proc.stdout
    assert "1 FAILED" in proc.stdout
