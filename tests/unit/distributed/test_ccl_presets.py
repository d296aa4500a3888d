"""oneCCL presets fill in only what the user left unset."""

from __future__ import annotations

from vllm_ipex_plugin.distributed.ccl_presets import PRESETS, apply_ccl_presets, presets_in_effect


def test_presets_fill_only_unset_names():
    environ = {"CCL_WORKER_COUNT": "4", "FI_PROVIDER": "", "PATH": "/bin"}
    applied = apply_ccl_presets(environ)
    assert environ["CCL_WORKER_COUNT"] == "4"
    assert environ["FI_PROVIDER"] == ""  # set, even if empty: the user's choice
    assert set(applied) == {p.name for p in PRESETS} - {"CCL_WORKER_COUNT", "FI_PROVIDER"}
    assert environ["CCL_ZE_IPC_EXCHANGE"] == "sockets" and environ["CCL_ATL_TRANSPORT"] == "ofi"
    assert apply_ccl_presets(environ) == []


def test_multi_host_runs_do_not_get_shared_memory_transport():
    environ: dict[str, str] = {}
    applied = apply_ccl_presets(environ, single_host=False)
    assert "FI_PROVIDER" not in environ and "CCL_ATL_SHM" not in environ
    assert "CCL_WORKER_COUNT" in applied


def test_presets_in_effect_tells_user_values_apart():
    rows = {name: (value, origin) for name, value, origin in presets_in_effect({"CCL_WORKER_COUNT": "8"})}
    assert rows["CCL_WORKER_COUNT"] == ("8", "yours")
    assert rows["FI_PROVIDER"] == ("shm", "default, set when the engine starts on an Intel GPU")
    assert all(p.why for p in PRESETS) and not any(p.name.startswith("VLLM_") for p in PRESETS)
