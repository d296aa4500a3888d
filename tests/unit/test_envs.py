"""Every environment variable of the plugin is defined and read in ``vllm_ipex_plugin/envs.py``.

Scans the package source (``ast``): outside ``envs.py`` no code reads ``os.environ`` /
``os.getenv`` except for the third-party variables listed below (vLLM's and oneCCL's, which
the code sets or reads for them), and no ``IPEX_PLUGIN_*`` name is spelled as a string. README's
table of variables is ``envs.markdown_table()``, verbatim (regenerate it as docs/architecture.md
says).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from vllm_ipex_plugin import envs

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "vllm_ipex_plugin"
ENVS_FILE = PACKAGE / "envs.py"

# Variables that are not the plugin's: the code sets (or reads) them for vLLM or oneCCL.
THIRD_PARTY = {
    "VLLM_WORKER_MULTIPROC_METHOD": "vLLM's worker start method, set to spawn (compat/vllm_env.py)",
    "VLLM_ENABLE_V1_MULTIPROCESSING": "vLLM's engine-core process switch, read in host mode (compat/vllm_env.py)",
    "CCL_ATL_TRANSPORT": "oneCCL transport, defaulted to ofi by the XPU worker as vLLM's XPU worker does",
    "LOCAL_WORLD_SIZE": "oneCCL / torch.distributed local world size, set by the XPU worker",
    "LOCAL_RANK": "oneCCL / torch.distributed local rank, set by the XPU worker",
    "TRITON_INTERPRET": "Triton's interpreter switch, set by the self-test only while its kernel checks run on a CPU",
    "ZE_AFFINITY_MASK": "Level Zero's visible devices, counted by the rank check (platform/device_selection.py)",
}
# ccl_presets.py reads and sets only the names of its PRESETS table (oneCCL / SYCL variables,
# checked below to be third-party names), through the mapping it is given.
COMPUTED_NAME_FILES = {"vllm_ipex_plugin/distributed/ccl_presets.py"}

# Plugin variables still named (or read) outside envs.py, per file. Must match exactly:
# remove an entry once its file reads the variable through envs.py.
KNOWN_OUTSIDE_ENVS: dict[str, set[str]] = {}
NOT_USER_SETTINGS = {"IPEX_PLUGIN_HOST_DEVICES"}

_PLUGIN_NAME = re.compile(r"IPEX_PLUGIN_[A-Z0-9_]*[A-Z0-9]")
TABLE_START, TABLE_END = "<!-- env-table:start -->", "<!-- env-table:end -->"


def _package_files():
    return [p for p in sorted(PACKAGE.rglob("*.py")) if p != ENVS_FILE]


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _module_constants(tree: ast.Module) -> dict[str, str]:
    consts = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    consts[target.id] = node.value.value
    return consts


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def _key_name(node: ast.AST, consts: dict[str, str]) -> str | None:
    """The variable name a key expression spells: a literal, a module constant or ``envs.X``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return consts.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "envs":
        value = getattr(envs, node.attr, None)
        return value if isinstance(value, str) else None
    return None


def environment_reads(path: Path) -> list[tuple[int, str | None]]:
    """``(line, variable name or None when not resolvable)`` for each read of the environment."""
    tree = ast.parse(path.read_text())
    consts = _module_constants(tree)
    reads: list[tuple[int, str | None]] = []
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            func = node.func
            if _is_environ(func.value) and func.attr in ("get", "setdefault", "pop"):
                key = node.args[0]
            elif func.attr == "getenv" and isinstance(func.value, ast.Name) and func.value.id == "os":
                key = node.args[0]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getenv" and node.args:
            key = node.args[0]
        elif isinstance(node, ast.Subscript) and _is_environ(node.value) and isinstance(node.ctx, ast.Load):
            key = node.slice
        elif isinstance(node, ast.Compare) and any(_is_environ(c) for c in node.comparators):
            key = node.left
        if key is not None:
            reads.append((node.lineno, _key_name(key, consts)))
    return reads


def test_environment_reads_outside_envs_are_third_party():
    """Reads of the plugin's variables go through envs.py; the rest are listed third-party names."""
    bypasses: dict[str, set[str]] = {}
    unknown = []
    for path in _package_files():
        for line, name in environment_reads(path):
            if name in THIRD_PARTY or (name is None and _rel(path) in COMPUTED_NAME_FILES):
                continue
            if name is not None and name in envs.VARIABLES:
                bypasses.setdefault(_rel(path), set()).add(name)
            else:
                unknown.append(f"{_rel(path)}:{line} reads {name or 'a computed name'}")
    assert not unknown, "environment read that is neither envs.py nor a listed third-party variable: " + "; ".join(
        unknown
    )
    expected = {f: names - NOT_USER_SETTINGS for f, names in KNOWN_OUTSIDE_ENVS.items() if names - NOT_USER_SETTINGS}
    assert bypasses == expected, "plugin variables read outside envs.py (read them through envs.py's accessors)"


def test_no_plugin_variable_name_spelled_outside_envs():
    found: dict[str, set[str]] = {}
    for path in _package_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _PLUGIN_NAME.fullmatch(node.value):
                found.setdefault(_rel(path), set()).add(node.value)
    assert found == KNOWN_OUTSIDE_ENVS, "IPEX_PLUGIN_* names belong in envs.py (use envs.<NAME> / its accessors)"


def test_third_party_list_has_no_stale_entry():
    seen = {name for path in _package_files() for _, name in environment_reads(path)}
    sources = "".join(path.read_text() for path in _package_files())
    stale = {name for name in THIRD_PARTY if name not in seen and f'"{name}"' not in sources}
    assert not stale, f"THIRD_PARTY lists variables the package no longer touches: {sorted(stale)}"


def test_every_named_plugin_variable_exists():
    """Docstrings, messages, README and docs name only variables envs.py defines."""
    files = [*_package_files(), REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    missing = {
        f"{_rel(path)}: {name}"
        for path in files
        for name in _PLUGIN_NAME.findall(path.read_text())
        if name not in envs.VARIABLES and name not in NOT_USER_SETTINGS
    }
    assert not missing, f"names no variable of envs.py: {sorted(missing)}"


def test_readme_table_is_generated_from_envs():
    readme = (REPO / "README.md").read_text()
    assert readme.count(TABLE_START) == 1 and readme.count(TABLE_END) == 1, "README lost its env-table markers"
    table = readme.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0].strip()
    assert table == envs.markdown_table(), (
        "README's environment table differs from envs.markdown_table(); regenerate it (docs/architecture.md)"
    )


def test_scanner_sees_each_kind_of_read(tmp_path):
    """The scan itself: every spelling of an environment read is found and named."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\nfrom os import environ, getenv\nNAME = 'B'\n"
        "os.environ.get('A')\nos.environ[NAME]\nos.getenv('C')\n'D' in os.environ\nenviron.setdefault('E', '1')\n"
        "getenv('F')\nos.environ.pop(envs.HOST_MODE)\nos.environ['W'] = '1'\n"
    )
    names = [name for _, name in environment_reads(sample)]
    assert sorted(names) == ["A", "B", "C", "D", "E", "F", envs.HOST_MODE]


def test_ccl_presets_are_third_party_names():
    from vllm_ipex_plugin.distributed.ccl_presets import PRESETS

    for preset in PRESETS:
        assert not preset.name.startswith(("VLLM_", "IPEX_PLUGIN_")), preset.name


def test_collective_timeout_must_be_positive_seconds(monkeypatch):
    import pytest

    monkeypatch.delenv(envs.COLLECTIVE_TIMEOUT_S, raising=False)
    assert envs.collective_timeout_s() == 600
    monkeypatch.setenv(envs.COLLECTIVE_TIMEOUT_S, "45")
    assert envs.collective_timeout_s() == 45
    for bad in ("abc", "0", "-5"):
        monkeypatch.setenv(envs.COLLECTIVE_TIMEOUT_S, bad)
        with pytest.raises(ValueError) as err:
            envs.collective_timeout_s()
        assert str(err.value) == (f"IPEX_PLUGIN_COLLECTIVE_TIMEOUT_S={bad!r} is not a positive number of seconds; "
                                  "unset it for the default.")
