"""Import Triton kernel modules under TRITON_INTERPRET=1 without leaking it to other tests.

Triton decides interpreter-or-compile when a kernel is decorated (module import) and
reads the variable again at launch; vLLM processes spawned by other tests must not
inherit it. Use ``import_interpreted`` at module level and the ``interpreter_env``
fixture (autouse it in the test module) for the launches.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def import_interpreted(module: str) -> ModuleType:
    previous = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        return importlib.import_module(module)
    finally:
        if previous is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = previous


@pytest.fixture
def interpreter_env(monkeypatch):
    """TRITON_INTERPRET=1 only while the requesting test runs."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
