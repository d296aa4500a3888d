"""Fixtures of the low-bit kernel tests."""

from __future__ import annotations

import pytest

from vllm_ipex_plugin import envs
from vllm_ipex_plugin.kernels.lowbit.tuning import table


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """An empty user cache for the tuned tables (and nothing remembered from other tests)."""
    monkeypatch.setenv(envs.CACHE, str(tmp_path))
    table.clear_caches()
    yield tmp_path
    table.clear_caches()
