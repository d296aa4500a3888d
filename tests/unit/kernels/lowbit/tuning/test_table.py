"""The low-bit kernels' configuration table: lookup keys, cache files, version guard, shipped tables."""

from __future__ import annotations

import json

from vllm_ipex_plugin.kernels.common.device import CPU_FACTS as CPU
from vllm_ipex_plugin.kernels.common.device import INTEL_TARGETS
from vllm_ipex_plugin.kernels.lowbit.tuning import table as lowbit_tuning
from vllm_ipex_plugin.kernels.lowbit.tuning.tuner import SWAP_MAX_WARPS


def test_gemm_batches_share_a_bucket():
    assert lowbit_tuning.entry_key("gemm", "sym_int4", 9, 4096, 14336) == "gemm|sym_int4|m16|k14336|n4096"
    assert lowbit_tuning.entry_key("gemm", "sym_int4", 17, 1, 1).startswith("gemm|sym_int4|m32|")
    assert lowbit_tuning.entry_key("gemm", "sym_int4", 500, 1, 1).startswith("gemm|sym_int4|m512|")
    assert lowbit_tuning.entry_key("gemm", "sym_int4", 5000, 1, 1).startswith("gemm|sym_int4|m1024|")
    assert lowbit_tuning.entry_key("gemv", "fp6", 1, 8, 64) == "gemv|fp6|m1|k64|n8"


def test_saved_entry_is_used_and_other_shapes_fall_back(cache_dir):
    tuned = {"BN": 16, "BK": 512, "SPLIT_K": 2, "num_warps": 8, "num_stages": 2}
    path = lowbit_tuning.save_entries(CPU, {lowbit_tuning.entry_key("gemv", "sym_int4", 1, 4096, 4096): tuned})
    assert path == cache_dir / "tuning" / "cpu.json"
    assert lowbit_tuning.config_for("gemv", "sym_int4", 1, 4096, 4096, CPU) == tuned
    assert lowbit_tuning.config_for("gemv", "sym_int4", 1, 4096, 8192, CPU) == lowbit_tuning.heuristic_config(
        "gemv", 1, 4096, 8192, CPU
    )
    # a second save merges instead of replacing
    lowbit_tuning.save_entries(CPU, {"dense_min_m|sym_int4": 65})
    assert lowbit_tuning.config_for("gemv", "sym_int4", 1, 4096, 4096, CPU) == tuned
    assert lowbit_tuning.dense_min_m("sym_int4", CPU) == 65
    assert lowbit_tuning.dense_min_m("nf4", CPU) == 2  # nf4 is dense-only above M = 1


def test_entries_from_another_triton_version_are_ignored(cache_dir):
    path = cache_dir / "tuning" / "cpu.json"
    path.parent.mkdir(parents=True)
    key = lowbit_tuning.entry_key("gemv", "sym_int4", 1, 64, 64)
    path.write_text(json.dumps({"triton": "0.0.1", "configs": {key: {"BN": 16}}}))
    assert lowbit_tuning.config_for("gemv", "sym_int4", 1, 64, 64, CPU) == lowbit_tuning.heuristic_config(
        "gemv", 1, 64, 64, CPU
    )


def test_shipped_tables_are_well_formed():
    files = sorted(lowbit_tuning.SHIPPED_DIR.glob("*.json"))
    assert files, "no shipped tuning table"
    for path in files:
        data = json.loads(path.read_text())
        assert data["triton"].count(".") == 2 and data["device"]
        for key, cfg in data["configs"].items():
            kernel, fmt, bucket, k, n = key.split("|")
            if cfg.get("path") == "dense":
                assert kernel == "gemm", (path.name, key)
                continue
            assert kernel in ("gemv", "gemm") and bucket.startswith("m") and k.startswith("k") and n.startswith("n")
            if kernel == "gemv" and not (cfg.get("PAIRS") or cfg.get("W4") or cfg.get("H16")):
                assert cfg["BN"] in lowbit_tuning.GEMV_SAFE_ROWS, (path.name, key)
            assert int(k[1:]) % cfg["BK"] == 0 or cfg["BK"] > int(k[1:]), (path.name, key)
            assert cfg["SPLIT_K"] in (1, 2, 4) and cfg["num_warps"] in (2, 4, 8)
            if cfg.get("SWAP"):  # the warp count past which Triton 3.6 raced on swapped tiles (tuner.py)
                assert kernel == "gemm" and cfg["num_warps"] <= SWAP_MAX_WARPS, (path.name, key)


def test_tuned_path_choice_overrides_the_threshold(cache_dir):
    key16 = lowbit_tuning.entry_key("gemm", "fp8_e4m3", 16, 256, 512)
    key512 = lowbit_tuning.entry_key("gemm", "fp8_e4m3", 512, 256, 512)
    gemm = {"path": "gemm", "BM": 64, "BN": 128, "BK": 128, "SPLIT_K": 1, "num_warps": 8, "num_stages": 3}
    lowbit_tuning.save_entries(CPU, {key16: {"path": "dense"}, key512: gemm})
    assert lowbit_tuning.choose_path("fp8_e4m3", 1, 256, 512, CPU) == "gemv"
    assert lowbit_tuning.choose_path("fp8_e4m3", 9, 256, 512, CPU) == "dense"  # tuned: dense won at m16
    assert lowbit_tuning.choose_path("fp8_e4m3", 300, 256, 512, CPU) == "gemm"  # tuned: fused won at m512
    assert lowbit_tuning.gemm_config("fp8_e4m3", 300, 256, 512, CPU) == gemm
    # where dense won, a direct GEMM call still gets tiles (the heuristics)
    assert lowbit_tuning.gemm_config("fp8_e4m3", 9, 256, 512, CPU)["BM"] == 16
    # untuned shapes: threshold; nf4: always dense above one row
    assert lowbit_tuning.choose_path("fp8_e4m3", 100, 64, 64, CPU) == "gemm"
    assert lowbit_tuning.choose_path("fp8_e4m3", 200, 64, 64, CPU) == "dense"
    assert lowbit_tuning.choose_path("nf4", 2, 256, 512, CPU) == "dense"


def test_planning_reads_no_device(cache_dir):
    """Intel targets plan from their facts: their own cache file, the heuristics sized by Xe cores."""
    pvc, dg2 = INTEL_TARGETS["pvc"], INTEL_TARGETS["dg2"]
    path = lowbit_tuning.save_entries(pvc, {lowbit_tuning.entry_key("gemv", "fp6", 1, 64, 64): {"BN": 16}})
    assert path == cache_dir / "tuning" / "intel_r_data_center_gpu_max_1550.json"
    assert lowbit_tuning.config_for("gemv", "fp6", 1, 64, 64, pvc) == {"BN": 16}
    assert lowbit_tuning.config_for("gemv", "fp6", 1, 64, 64, dg2) == lowbit_tuning.heuristic_config(
        "gemv", 1, 64, 64, dg2)
    # GEMV split K: until N x splits covers 4 x the compute units
    assert lowbit_tuning.heuristic_config("gemv", 1, 64, 8192, dg2)["SPLIT_K"] == 2
