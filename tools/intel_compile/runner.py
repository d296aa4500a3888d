"""Run Intel compile cases (see ``driver.py``) in parallel, cached, and judge the results.

Each distinct case runs once under a timeout, in a compiler process of the runner's (``driver.py --serve``,
one per worker and arch, so torch and triton-xpu are imported once per process rather than once per case):
Intel's compiler can take minutes on DG2 and a bad launch configuration can abort the process (an LLVM
assertion), and either must come back as that case's failure, never as a hang or a crash of the caller;
the process is then replaced for the remaining cases. Results are cached as JSON under
``$IPEX_PLUGIN_CACHE/intel_compile/results/`` (default ``~/.cache/vllm_ipex_plugin``), keyed by the kernel
sources, the case, the arch, the driver and the toolchain versions, so an unchanged kernel is not rebuilt.

CLI::

    python -m tools.intel_compile.runner CASES.json [--arch pvc --arch dg2] [--budget pvc=0,bmg=0,dg2=8192]

``CASES.json`` is a list of driver cases (an optional ``"name"`` labels a case in the table; a case
without ``"arch"`` is run for every ``--arch``). Prints the markdown table; exits 1 when ``check`` finds a
failure.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DRIVER = HERE / "driver.py"
TOOLCHAIN_SH = HERE / "toolchain.sh"
KERNELS_DIR = REPO_ROOT / "vllm_ipex_plugin" / "kernels"
DEFAULT_TIMEOUT = 400.0
ARCHS = ("pvc", "bmg", "dg2")
# Keys of a case that only label it: they do not change what is compiled, so not the cache key either.
LABEL_KEYS = ("name",)


class ToolchainError(RuntimeError):
    """toolchain.sh could not install triton-xpu or ocloc."""


def cache_root() -> Path:
    """The project's cache folder: ``$IPEX_PLUGIN_CACHE`` or ``~/.cache/vllm_ipex_plugin``."""
    from vllm_ipex_plugin import envs

    return Path(envs.cache_root())


def default_toolchain_dir() -> Path:
    return cache_root() / "intel_compile" / "toolchain"


def default_results_dir() -> Path:
    return cache_root() / "intel_compile" / "results"


def ensure_toolchain(toolchain_dir: Path | None = None, python: str = sys.executable) -> Path:
    """Run ``toolchain.sh`` (idempotent; no network once installed) and return the toolchain folder.

    ``python`` must be the interpreter that will run the driver: triton-xpu's wheel is per Python version.
    """
    tc = Path(toolchain_dir or default_toolchain_dir())
    proc = subprocess.run(["sh", str(TOOLCHAIN_SH), str(tc)], capture_output=True, text=True,
                          env={**os.environ, "PYTHON": python})
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise ToolchainError(lines[-1] if lines else f"toolchain.sh exited with {proc.returncode}")
    return tc


def toolchain_versions(toolchain_dir: Path) -> str:
    """The versions ``toolchain.sh`` recorded (triton-xpu, Python, ocloc, IGC and their libraries)."""
    return (Path(toolchain_dir) / "toolchain.stamp").read_text()


def _hash_file(h: Any, path: Path, root: Path) -> None:
    h.update(str(path.relative_to(root) if path.is_relative_to(root) else path).encode())
    h.update(b"\0")
    h.update(path.read_bytes())
    h.update(b"\0")


def _family_files(module: str) -> list[Path]:
    """The plugin files a kernel of ``module`` can depend on: its kernel family's folder
    (``kernels/<family>/``), ``kernels/common/``, the kernels package itself and ``envs.py``.
    Families import only themselves and ``common``, so an edit elsewhere rebuilds nothing."""
    parts = module.split(".")
    files = [KERNELS_DIR / "__init__.py", KERNELS_DIR.parent / "envs.py",
             *sorted((KERNELS_DIR / "common").rglob("*.py"))]
    if parts[:2] == ["vllm_ipex_plugin", "kernels"] and len(parts) > 3 and (KERNELS_DIR / parts[2]).is_dir():
        files += sorted((KERNELS_DIR / parts[2]).rglob("*.py"))
    elif parts[:2] == ["vllm_ipex_plugin", "kernels"]:
        files += sorted(KERNELS_DIR.rglob("*.py"))
    return files


def sources_digest(cases: Iterable[dict[str, Any]] = (), extra_paths: Sequence[Path] = ()) -> str:
    """Hash of the plugin sources the cases' kernels can depend on (``_family_files``), of the driver,
    and of any case module that lives outside the plugin's kernels."""
    h = hashlib.sha256()
    files: set[Path] = set()
    outside = set()
    for case in cases:
        module = str(case.get("module", ""))
        files.update(p for p in _family_files(module) if p.is_file())
        rel = Path(*module.split("."))
        for base in (REPO_ROOT, *extra_paths):
            for candidate in (base / rel.with_suffix(".py"), base / rel / "__init__.py"):
                if candidate.is_file() and not candidate.resolve().is_relative_to(KERNELS_DIR):
                    outside.add(candidate.resolve())
    for path in sorted(files):
        _hash_file(h, path, REPO_ROOT)
    _hash_file(h, DRIVER, REPO_ROOT)
    for path in sorted(outside):
        _hash_file(h, path, REPO_ROOT)
    return h.hexdigest()


def canonical_case(case: dict[str, Any]) -> str:
    """The case as compiled (label keys dropped), in one canonical JSON spelling."""
    return json.dumps({k: v for k, v in case.items() if k not in LABEL_KEYS}, sort_keys=True)


def case_key(case: dict[str, Any], digest: str, versions: str) -> str:
    h = hashlib.sha256()
    for part in (canonical_case(case), str(case.get("arch")), digest, versions):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def case_label(case: dict[str, Any]) -> str:
    """A row name for the table: the case's ``name`` or its function and constexprs."""
    if case.get("name"):
        return str(case["name"])
    cx = ",".join(f"{k}={v}" for k, v in sorted((case.get("constexprs") or {}).items()))
    opts = case.get("options") or {}
    extra = ",".join(f"{k}={opts[k]}" for k in ("num_warps", "num_stages", "grf_mode") if k in opts)
    return f"{case.get('function')}[{cx}{';' if cx and extra else ''}{extra}]"


def _failed(case: dict[str, Any], failure: str, error: str, seconds: float) -> dict[str, Any]:
    """A result for a case whose compiler process ended without one (``failure``: "timeout" or "crash")."""
    return {"failure": failure, "kernel": f"{case.get('module')}:{case.get('function')}", "arch": case.get("arch"),
            "spirv_ok": False, "native_ok": False, "grf_mode": None, "spill_bytes": None, "dpas_count": None,
            "block2d_load_count": None, "undefined_imports": [], "compile_seconds": round(seconds, 3),
            "error": error, "case": case}


class DriverProcess:
    """One ``driver.py --serve`` process (its own process group, so a kill also ends the ocloc it started)
    that compiles cases for one arch, one at a time, each under a timeout.

    A case that times out or takes the process down (an LLVM assertion aborts it) comes back as that case's
    failed result and leaves this object dead; the caller starts a fresh one for the next case."""

    def __init__(self, arch: str, toolchain_dir: Path, extra_paths: Sequence[Path] = (),
                 python: str = sys.executable) -> None:
        tc = Path(toolchain_dir)
        env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", "PYTHONPATH")}
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (tc / "triton-xpu", REPO_ROOT, *extra_paths))
        env.setdefault("OMP_NUM_THREADS", "1")
        self.arch = arch
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen([python, str(DRIVER), "--serve", "--ocloc", str(tc / "ocloc" / "ocloc")],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
                                      env=env, cwd=REPO_ROOT, start_new_session=True)
        self.alive = True

    def run(self, case: dict[str, Any], timeout: float = DEFAULT_TIMEOUT) -> tuple[dict[str, Any], bool]:
        """Compile ``case`` (of this process's arch). Returns (result, cacheable): a timeout depends on the
        machine's load, so it is reported but not cached."""
        t0 = time.monotonic()
        try:
            self._proc.stdin.write(json.dumps(case) + "\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the process is gone: reported below as a crash
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout)
        if not ready:
            self.close()
            return _failed(case, "timeout", f"timed out after {timeout:g} s", time.monotonic() - t0), False
        line = self._proc.stdout.readline()
        if line.strip():
            try:
                return json.loads(line), True
            except ValueError:
                pass
        self.alive = False
        returncode = self._proc.wait()
        seconds = time.monotonic() - t0
        how = f"killed by {signal.Signals(-returncode).name}" if returncode < 0 else f"exited with {returncode}"
        self._stderr.seek(0)
        tail = "\n".join(self._stderr.read().strip().splitlines()[-15:])
        self._stderr.close()
        # An abort or a segfault of the compiler is the case's own result; anything else (killed from outside,
        # a broken environment) may not recur, so it is not cached.
        cacheable = returncode in (-signal.SIGABRT, -signal.SIGSEGV)
        return _failed(case, "crash", f"compiler process {how}: {tail}"[:4000], seconds), cacheable

    def close(self) -> None:
        """End the process (and anything it started)."""
        if self.alive:
            self.alive = False
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.communicate()
            self._stderr.close()


def expand_archs(cases: Iterable[dict[str, Any]], archs: Sequence[str]) -> list[dict[str, Any]]:
    """A copy of each case without an ``arch`` for every arch in ``archs``; cases with one kept as they are."""
    out = []
    for case in cases:
        if case.get("arch"):
            out.append(case)
        else:
            out.extend({**case, "arch": a} for a in archs)
    return out


def run_cases(cases: Sequence[dict[str, Any]], *, jobs: int | None = None, timeout: float = DEFAULT_TIMEOUT,
              use_cache: bool = True, results_dir: Path | None = None, toolchain_dir: Path | None = None,
              extra_paths: Sequence[Path] = (), python: str = sys.executable) -> list[dict[str, Any]]:
    """Results for ``cases``, in order. Each distinct case is compiled at most once, up to ``jobs``
    (default: the CPU count) at a time; cached results are returned with ``from_cache: True``."""
    tc = ensure_toolchain(toolchain_dir, python)
    versions = toolchain_versions(tc)
    extra = [Path(p).resolve() for p in extra_paths]
    digests: dict[str, str] = {}
    rdir = Path(results_dir or default_results_dir())
    rdir.mkdir(parents=True, exist_ok=True)

    distinct: dict[str, dict[str, Any]] = {}
    keys = []
    for case in cases:
        module = str(case.get("module", ""))
        if module not in digests:
            digests[module] = sources_digest([case], extra)
        key = case_key(case, digests[module], versions)
        keys.append(key)
        distinct.setdefault(key, case)

    results: dict[str, dict[str, Any]] = {}
    todo = []
    for key in distinct:
        path = rdir / f"{key}.json"
        if use_cache and path.is_file():
            try:
                results[key] = {**json.loads(path.read_text()), "from_cache": True}
                continue
            except ValueError:
                pass  # a damaged entry is rebuilt
        todo.append(key)

    def save(key: str, result: dict[str, Any], cacheable: bool) -> None:
        result.update(key=key, toolchain=versions.split(), from_cache=False)
        results[key] = result
        if cacheable:
            fd, tmp = tempfile.mkstemp(dir=rdir, suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                json.dump(result, f, sort_keys=True, indent=1)
            os.replace(tmp, rdir / f"{key}.json")

    # Workers take cases from one queue, sorted by arch so that each keeps its driver process (one arch
    # per process) for long runs of cases.
    queue = deque(sorted(todo, key=lambda k: str(distinct[k].get("arch"))))
    lock = threading.Lock()

    def worker() -> None:
        driver: DriverProcess | None = None
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    key = queue.popleft()
                case = distinct[key]
                if driver is None or not driver.alive or driver.arch != case.get("arch"):
                    if driver is not None:
                        driver.close()
                    driver = DriverProcess(str(case.get("arch")), tc, extra, python)
                save(key, *driver.run(case, timeout))
        finally:
            if driver is not None:
                driver.close()

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, min(jobs or os.cpu_count() or 1,
                                                                                        len(todo))))]
    for t in workers:
        t.start()
    for t in workers:
        t.join()

    out = []
    for case, key in zip(cases, keys, strict=True):
        r = dict(results[key])
        r["label"] = case_label(case)
        out.append(r)
    return out


def check(results: Iterable[dict[str, Any]], budget: dict[str, int] | None = None) -> list[str]:
    """Failures among ``results``, one line each. A build error or an undefined import always fails; a
    spill above ``budget[arch]`` bytes fails (an arch not in ``budget`` has no spill limit)."""
    budget = budget or {}
    failures = []
    for r in results:
        where = f"{r.get('label') or case_label(r.get('case') or {})} on {r.get('arch')}"
        if not r.get("spirv_ok") or not r.get("native_ok") or r.get("error"):
            stage = r.get("failure") or ("SPIR-V" if not r.get("spirv_ok") else "native build")
            first = (r.get("error") or "no error text").strip().splitlines()
            failures.append(f"{where}: {stage} failed: {first[0] if first else ''}")
            continue
        if r.get("undefined_imports"):
            failures.append(f"{where}: undefined imports {', '.join(r['undefined_imports'])}")
        limit = budget.get(str(r.get("arch")))
        if limit is not None and (r.get("spill_bytes") or 0) > limit:
            mode = r.get("grf_mode")
            failures.append(f"{where}: spills {r['spill_bytes']} bytes (budget {limit}) in {mode}-GRF mode")
    return failures


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def format_table(results: Iterable[dict[str, Any]]) -> str:
    """Markdown table: one row per case and arch."""
    rows = ["| case | arch | builds | GRF | spill B | DPAS | 2D block ld/st | compile s | note |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r.get("failure"):
            builds = str(r["failure"]).upper()
        elif r.get("native_ok") and not r.get("error"):
            builds = "ok" if not r.get("undefined_imports") else "undefined imports"
        elif r.get("spirv_ok"):
            builds = "native FAIL"
        else:
            builds = "SPIR-V FAIL"
        block = "-" if r.get("block2d_load_count") is None else \
            f"{r['block2d_load_count']}/{_cell(r.get('block2d_store_count'))}"
        note = (r.get("error") or ", ".join(r.get("undefined_imports") or [])).strip().splitlines()
        note_text = (note[0] if note else "").replace("|", "\\|")[:160]
        secs = r.get("compile_seconds")
        rows.append(f"| {r.get('label') or case_label(r.get('case') or {})} | {_cell(r.get('arch'))} | {builds} | "
                    f"{_cell(r.get('grf_mode'))} | {_cell(r.get('spill_bytes'))} | {_cell(r.get('dpas_count'))} | "
                    f"{block} | {'-' if secs is None else f'{secs:.1f}'} | {note_text} |")
    return "\n".join(rows)


def parse_budget(text: str) -> dict[str, int]:
    """``pvc=0,bmg=0,dg2=8192`` -> ``{"pvc": 0, "bmg": 0, "dg2": 8192}``."""
    budget = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        arch, _, limit = item.partition("=")
        budget[arch.strip()] = int(limit)
    return budget


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compile Triton kernel cases for Intel GPUs offline.")
    parser.add_argument("cases", type=Path, help="JSON file: a list of driver cases")
    parser.add_argument("--arch", action="append", choices=ARCHS,
                        help="run cases without an 'arch' for this arch (repeatable; default: all three)")
    parser.add_argument("--jobs", type=int, help="parallel compiles (default: CPU count)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per case")
    parser.add_argument("--no-cache", action="store_true", help="recompile even if a cached result exists")
    parser.add_argument("--budget", type=parse_budget, help="max spill bytes per arch, e.g. pvc=0,bmg=0,dg2=8192")
    parser.add_argument("--json", type=Path, help="also write all results to this file")
    parser.add_argument("--path", type=Path, action="append", default=[],
                        help="extra import path for case modules outside the repository")
    args = parser.parse_args(argv)
    cases = expand_archs(json.loads(args.cases.read_text()), args.arch or ARCHS)
    try:
        results = run_cases(cases, jobs=args.jobs, timeout=args.timeout, use_cache=not args.no_cache,
                            extra_paths=args.path)
    except ToolchainError as e:
        print(f"intel_compile: toolchain unavailable: {e}", file=sys.stderr)
        return 2
    print(format_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, sort_keys=True))
    failures = check(results, args.budget)
    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
