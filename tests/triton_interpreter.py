"""Import Triton kernel modules under TRITON_INTERPRET=1 without leaking it to other tests.

Triton decides interpreter-or-compile when a kernel is decorated (module import) and
reads the variable again at launch; vLLM processes spawned by other tests must not
inherit it. ``conftest.py`` imports every plugin kernel module this way before any test
module is collected, so no collection order can leave a compiled (driver-needing) kernel in
``sys.modules``. Use ``import_interpreted`` at module level and the ``interpreter_env``
fixture (autouse it in the test module) for the launches.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from types import ModuleType

import pytest


def _compiled_kernels(module: ModuleType) -> list[str]:
    """Names of ``module``'s Triton kernels that were decorated for a real driver."""
    from triton.runtime.jit import JITFunction

    return [name for name, value in vars(module).items()
            if isinstance(value, JITFunction) and getattr(value, "__module__", module.__name__) == module.__name__]


def import_interpreted(module: str) -> ModuleType:
    """``module`` with its kernels decorated for the interpreter; fails if it was imported without."""
    already = sys.modules.get(module)
    previous = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        loaded = importlib.import_module(module)
    finally:
        if previous is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = previous
    compiled = _compiled_kernels(loaded)
    if already is not None and compiled:
        raise RuntimeError(f"{module} was imported before TRITON_INTERPRET=1 was set (kernels {compiled}); "
                           "import it through tests.triton_interpreter first")
    return loaded


def import_all_kernels_interpreted(package: str = "vllm_ipex_plugin.kernels") -> None:
    """Every module under ``package``, imported for the interpreter."""
    root = import_interpreted(package)
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        import_interpreted(info.name)


@pytest.fixture
def interpreter_env(monkeypatch):
    """TRITON_INTERPRET=1 only while the requesting test runs."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
