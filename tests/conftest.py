"""Shared fixtures. Every test runs the real plugin; host mode is switched on per test."""

from __future__ import annotations

import os

import pytest

# vLLM resolves its platform once per process: the test session runs the plugin in
# host mode throughout; tests of the "host mode off" paths run in subprocesses.
os.environ["IPEX_PLUGIN_HOST_MODE"] = "1"
# vLLM's CPU worker spawns processes; keep their thread count sane on 2-core CI.
os.environ.setdefault("OMP_NUM_THREADS", "2")

# Triton builds its own library functions (tl.cdiv, ...) and the plugin's kernels for the
# interpreter only if TRITON_INTERPRET is set when they are first imported. Import them that
# way here, before any test module (or vLLM) imports triton or a kernel module, so no test
# depends on collection order.
from tests.triton_interpreter import import_all_kernels_interpreted, import_interpreted  # noqa: E402

import_interpreted("triton.language")
import_all_kernels_interpreted()


@pytest.fixture(scope="session")
def demo_model_path():
    from vllm_ipex_plugin.demo_model import build_demo_model

    return str(build_demo_model())


@pytest.fixture(scope="session")
def tiny_llama_path():
    from tests.harness.models import build_tiny_model

    return str(build_tiny_model("llama"))


@pytest.fixture(scope="session")
def tiny_qwen2_path():
    from tests.harness.models import build_tiny_model

    return str(build_tiny_model("qwen2"))
