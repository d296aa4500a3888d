"""The tuner CLI without a GPU (its correctness check and timing run only on XPU / CUDA)."""

from __future__ import annotations

from tests.triton_interpreter import import_interpreted

tuner = import_interpreted("vllm_ipex_plugin.kernels.lowbit.tuning.tuner")


def test_tuner_refuses_without_a_gpu(capsys):
    assert tuner.main(["--shapes", "64x64"]) == 2
    assert "no XPU or CUDA device" in capsys.readouterr().err


def test_candidates_respect_the_safe_gemv_rows():
    plain = [c for c in tuner.gemv_candidates("fp6") if not (c.get("PAIRS") or c.get("W4"))]
    assert plain and all(c["BN"] in tuner.table.GEMV_SAFE_ROWS for c in plain)
    assert not any(c.get("PAIRS") for c in tuner.gemv_candidates("fp6"))  # fp6 takes no paired GEMV
    assert any(c.get("PAIRS") for c in tuner.gemv_candidates("nf4"))
    assert not any(c.get("W4") for c in tuner.gemv_candidates("nf4"))  # nibble formats with scales only
    assert any(c.get("W4") for c in tuner.gemv_candidates("sym_int4"))
    assert any(c.get("W4") for c in tuner.gemv_candidates("asym_int4"))
    assert list(tuner.gemm_candidates(256))[-1] == {"path": "dense"}
