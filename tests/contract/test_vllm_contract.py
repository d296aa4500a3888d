"""The vLLM / torch internals the plugin touches still exist with the shapes it relies on.

One test per entry of ``vllm_ipex_plugin.compat.MANIFEST``: a vLLM (or torch) bump that
renames, removes or re-signs a touched symbol fails here, naming the symbol and the manifest
entry, instead of deep inside a serving run. The manifest is the list: adding a touch means
adding an entry with checks, and this file checks it without further edits.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
from pathlib import Path

import pytest

from vllm_ipex_plugin import compat
from vllm_ipex_plugin.compat import AssignsAttribute, Exists, Signature, SourceContains, Touch, VllmEnvVar

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "vllm_ipex_plugin"


def resolve(target: str):
    """``"pkg.module:Class.attr"`` -> the object (``getattr`` on the class, so methods stay unbound)."""
    module_name, _, qualname = target.partition(":")
    obj = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _assigned_self_attributes(func) -> set[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    names: set[str] = set()
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        for target in targets:
            for leaf in ast.walk(target) if target is not None else ():
                if isinstance(leaf, ast.Attribute) and isinstance(leaf.value, ast.Name) and leaf.value.id == "self":
                    names.add(leaf.attr)
    return names


def problem(check) -> str | None:
    """Why ``check`` fails against the installed vLLM / torch, or ``None``."""
    if isinstance(check, VllmEnvVar):
        import vllm.envs

        return None if check.name in vllm.envs.environment_variables else "vLLM no longer defines it"
    try:
        obj = resolve(check.target)
    except (ImportError, AttributeError) as exc:
        return f"does not resolve ({type(exc).__name__}: {exc})"
    if isinstance(check, Exists):
        return None
    if isinstance(check, Signature):
        params = tuple(inspect.signature(obj).parameters)
        return None if params == check.params else f"parameters are {params}, the plugin relies on {check.params}"
    if isinstance(check, AssignsAttribute):
        assigned = _assigned_self_attributes(obj)
        return None if check.attribute in assigned else f"no longer assigns self.{check.attribute}"
    if isinstance(check, SourceContains):
        return None if check.text in inspect.getsource(obj) else f"its source no longer contains {check.text!r}"
    raise TypeError(f"no contract check implemented for {type(check).__name__}")


def _label(check) -> str:
    return getattr(check, "target", None) or getattr(check, "name", "?")


@pytest.mark.parametrize("touch", compat.MANIFEST, ids=lambda t: t.key)
def test_touched_symbols_still_match(touch: Touch):
    assert touch.checks, f"manifest entry {touch.key} has no contract check"
    failures = [f"{_label(c)}: {p}" for c in touch.checks if (p := problem(c))]
    assert not failures, f"vLLM/torch changed under compat entry {touch.key!r} ({touch.symbol}): " + "; ".join(
        failures
    )


@pytest.mark.parametrize("touch", compat.MANIFEST, ids=lambda t: t.key)
def test_entry_is_complete_and_points_at_its_code(touch: Touch):
    for field in ("symbol", "kind", "why", "upstream", "remove_when"):
        assert getattr(touch, field).strip(), f"{touch.key}: empty {field}"
    where = REPO / touch.where
    assert where.is_file(), f"{touch.key}: {touch.where} does not exist"
    bridge = touch.where.removesuffix(".py").replace("/", ".")
    for user in touch.used_by:
        # imported, or named by qualname for vLLM to import (worker / punica wrapper classes)
        uses = (user == touch.where or bridge in _imported_modules(REPO / user)
                or f'"{bridge}.' in (REPO / user).read_text())
        assert uses, f"{touch.key}: {user} does not import {bridge}"


def _imported_modules(path: Path) -> set[str]:
    """Modules ``path`` imports: ``import a.b`` -> a.b; ``from a import b`` -> a and a.b."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_architecture_doc_lists_every_entry():
    doc = (REPO / "docs" / "architecture.md").read_text()
    missing = [touch.key for touch in compat.MANIFEST if f"`{touch.key}`" not in doc]
    assert not missing, f"docs/architecture.md's table of internals lacks {missing}"


def test_the_check_fails_when_a_symbol_disappears():
    """The checker itself: a wrong name, a wrong parameter list and a missing attribute are reported."""
    assert problem(Exists("vllm.v1.worker.gpu_worker:Worker._no_such_hook")) is not None
    assert problem(Exists("vllm.no_such_module:X")) is not None
    assert problem(Signature("vllm.v1.worker.gpu_worker:Worker._make_model_runner", ("self", "extra"))) is not None
    assert problem(AssignsAttribute("vllm.v1.worker.gpu_model_runner:GPUModelRunner.__init__", "no_such")) is not None
    assert problem(VllmEnvVar("VLLM_NO_SUCH_VARIABLE")) is not None
    assert problem(SourceContains("vllm.v1.executor.multiproc_executor:WorkerProc.make_worker_process", "Nope")) \
        is not None


_PRIVATE_IMPORT = re.compile(r"^\s*from\s+(vllm|torch)[\w.]*\s+import\s+(?:\(\s*)?_[a-zA-Z]", re.MULTILINE)


def _plugin_files_outside_compat():
    for path in sorted(PACKAGE.rglob("*.py")):
        if "compat" not in path.relative_to(PACKAGE).parts:
            yield path


def test_internals_are_only_touched_in_compat():
    """No private vLLM / torch import and no rebinding of a torch module attribute outside ``compat``."""
    offenders = []
    for path in _plugin_files_outside_compat():
        source = path.read_text()
        rel = path.relative_to(REPO)
        offenders += [f"{rel}: {m.group(0).strip()}" for m in _PRIVATE_IMPORT.finditer(source)]
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
                continue
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Attribute) and ast.unparse(target.value).split(".")[0] == "torch":
                    offenders.append(f"{rel}:{node.lineno}: {ast.unparse(target)} = ...")
    assert not offenders, "vLLM/torch internals belong in vllm_ipex_plugin/compat/ (with a manifest entry): " + (
        "; ".join(offenders)
    )


def test_compat_imports_only_vllm_torch_and_stdlib():
    import sys

    allowed = {"vllm", "torch", "__future__"} | set(sys.stdlib_module_names)
    for path in sorted((PACKAGE / "compat").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                roots = [(node.module or "").split(".")[0]] if node.level == 0 else ["<relative>"]
            else:
                continue
            for root in roots:
                assert root in allowed, f"{path.relative_to(REPO)} imports {root}: compat imports only vLLM and torch"
