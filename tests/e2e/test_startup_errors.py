"""Start-up errors of host mode that vLLM words for a GPU: the process exits non-zero and the
output names the numbers and the flag that fixes it."""

from __future__ import annotations

import re

import pytest

from tests.harness.runners import llm_in_subprocess
from vllm_ipex_plugin import envs


@pytest.mark.e2e
def test_kv_cache_smaller_than_one_sequence_names_the_host_flags(tiny_llama_path):
    result, _ = llm_in_subprocess(tiny_llama_path, max_model_len=512, env_changes={envs.HOST_KV_CACHE_GIB: "0.0001"})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert re.search(r"vllm_ipex_plugin: the KV cache \(0\.000 GiB\) holds about \d+ tokens, but one sequence of "
                     r"max_model_len=512 needs 0\.\d{3} GiB\. In host mode the cache size is --kv-cache-memory-bytes "
                     r"or IPEX_PLUGIN_HOST_KV_CACHE_GIB \(default 1 GiB\): raise it, or lower --max-model-len\.",
                     output), output[-3000:]
    assert "gpu_memory_utilization" not in output


@pytest.mark.e2e
def test_truncated_checkpoint_stops_start_up_with_one_line(tiny_llama_path, tmp_path):
    import shutil

    bad = tmp_path / "tiny"
    shutil.copytree(tiny_llama_path, bad)
    weights = bad / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4096])
    result, _ = llm_in_subprocess(str(bad))
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(rf"vllm_ipex_plugin: {re.escape(str(weights))}: truncated \(\d+ bytes, its header needs \d+\); "
                        r"re-download or re-save it", last), result.stderr[-2000:]


@pytest.mark.e2e
def test_more_ranks_than_visible_cards_is_one_line(tiny_llama_path):
    """Host mode counts ZE_AFFINITY_MASK's entries as the cards, so the XPU check runs here."""
    result, _ = llm_in_subprocess(tiny_llama_path, tensor_parallel_size=2, timeout=300,
                                  env_changes={"ZE_AFFINITY_MASK": "0"})
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last == ("vllm_ipex_plugin: tensor_parallel_size 2 x pipeline_parallel_size 1 = 2 ranks on this host, "
                    "but 1 Intel GPU is visible (ZE_AFFINITY_MASK=0); lower the parallel sizes or make more "
                    "cards visible."), result.stderr[-2000:]


@pytest.mark.e2e
def test_ray_executor_in_host_mode_is_one_line(tiny_llama_path):
    """vLLM's Ray executor needs Ray accelerator resources, which the CPU has none of: host mode says so
    before the engine starts (vLLM alone fails later, in the engine core, with a traceback)."""
    from vllm_ipex_plugin.platform.xpu_platform import HOST_MODE_RAY_MESSAGE

    result, _ = llm_in_subprocess(tiny_llama_path, tensor_parallel_size=2, distributed_executor_backend="ray",
                                  timeout=300)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last == HOST_MODE_RAY_MESSAGE, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
