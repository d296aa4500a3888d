"""The tuner CLI without a GPU (its correctness check and timing run only on XPU / CUDA)."""

from __future__ import annotations

from tests.triton_interpreter import import_interpreted

tuner = import_interpreted("vllm_ipex_plugin.kernels.lowbit.tuning.tuner")


def test_tuner_refuses_without_a_gpu(capsys):
    assert tuner.main(["--shapes", "64x64"]) == 2
    assert "no XPU or CUDA device" in capsys.readouterr().err


def test_candidates_respect_the_safe_gemv_rows():
    plain = [c for c in tuner.gemv_candidates("fp6") if not (c.get("PAIRS") or c.get("W4") or c.get("H16"))]
    assert plain and all(c["BN"] in tuner.table.GEMV_SAFE_ROWS for c in plain)
    assert not any(c.get("PAIRS") for c in tuner.gemv_candidates("fp6"))  # fp6 takes no paired GEMV
    assert any(c.get("PAIRS") for c in tuner.gemv_candidates("nf4"))
    assert not any(c.get("W4") for c in tuner.gemv_candidates("nf4"))  # nibble formats with scales only
    assert any(c.get("W4") for c in tuner.gemv_candidates("sym_int4"))
    assert any(c.get("W4") for c in tuner.gemv_candidates("asym_int4"))
    assert list(tuner.gemm_candidates(256))[-1] == {"path": "dense"}


def test_fp16_pair_gemv_candidates_only_for_the_formats_it_takes():
    for fmt in ("sym_int4", "asym_int4", "fp6", "sym_int8", "fp8_e4m3", "fp8_e5m2"):
        assert any(c.get("H16") for c in tuner.gemv_candidates(fmt))
    assert not any(c.get("H16") for c in tuner.gemv_candidates("nf4"))  # a codebook: no integer-op decode
    only = list(tuner.gemv_candidates("fp8_e4m3", ("h16",)))
    assert only and all(c.get("H16") for c in only)
