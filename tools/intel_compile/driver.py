"""Compile one Triton kernel case for an Intel GPU with no Intel GPU present, and report what the native
compiler made of it.

Run in its own process with ``PYTHONPATH=CACHE_DIR/triton-xpu:<repo root>`` (see ``toolchain.sh``), so that
``import triton`` is Intel's triton-xpu and not the project's Triton, and so that a crash of the compiler
(an LLVM assertion aborts the process) only loses this one case::

    python tools/intel_compile/driver.py CASE.json     # or the case on stdin; one JSON result on stdout
    python tools/intel_compile/driver.py --serve       # one case per stdin line, one result line each

Stages: the real ``@triton.jit`` function is imported from the plugin and lowered to SPIR-V by triton-xpu's
Intel backend with the device properties the runtime would see on the chosen GPU; ``ocloc compile`` turns
the SPIR-V into the native binary, and ``ocloc disasm`` dumps it: ``.ze_info`` (GRF count, SIMD width,
spill bytes), the ISA (DPAS and 2D block-IO instructions) and ``.symtab`` (undefined imports: a binary with
any fails to load, even though ocloc reports "Build succeeded").

The parsers at the top import nothing outside the standard library, so the project's tests can use them
with the project's own Triton installed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ARCHS = ("pvc", "bmg", "dg2")

# What torch.xpu.get_device_capability() reports on each GPU, which is what Triton's Intel backend reads:
# Data Center GPU Max 1550 (PVC), Arc B580 (BMG, Xe2) and Arc A770 (DG2, Alchemist). `ocloc query
# CL_DEVICE_EXTENSIONS -device ...` agrees on DPAS / 2D block IO / fp64 for each.
DEVICE_PROPS: dict[str, dict[str, Any]] = {
    "pvc": {
        "name": "Intel(R) Data Center GPU Max 1550",
        "sub_group_sizes": [16, 32],
        "max_work_group_size": 1024,
        "max_num_sub_groups": 64,
        "has_fp64": True,
        "has_subgroup_matrix_multiply_accumulate": True,
        "has_subgroup_matrix_multiply_accumulate_tensor_float32": True,
        "has_subgroup_2d_block_io": True,
        "has_bfloat16_conversions": True,
    },
    "bmg": {
        "name": "Intel(R) Arc(TM) B580 Graphics",
        "sub_group_sizes": [16, 32],
        "max_work_group_size": 1024,
        "max_num_sub_groups": 64,
        "has_fp64": True,
        "has_subgroup_matrix_multiply_accumulate": True,
        "has_subgroup_matrix_multiply_accumulate_tensor_float32": True,
        "has_subgroup_2d_block_io": True,
        "has_bfloat16_conversions": True,
    },
    "dg2": {
        "name": "Intel(R) Arc(TM) A770 Graphics",
        "sub_group_sizes": [8, 16, 32],
        "max_work_group_size": 1024,
        "max_num_sub_groups": 128,
        "has_fp64": False,
        "has_subgroup_matrix_multiply_accumulate": True,
        "has_subgroup_matrix_multiply_accumulate_tensor_float32": False,
        "has_subgroup_2d_block_io": False,
        "has_bfloat16_conversions": True,
    },
}

# GRF (register file) modes. triton-xpu 3.3 takes the mode as the compile option `grf_mode` and turns it
# into the kernel's `build_flags` (`make_spv` in backends/intel/compiler.py); its runtime passes those flags
# to the Level Zero module build (driver.c), which are the `-options` of `ocloc compile`. With no GRF flag
# the runtime builds with the default 128 registers and rebuilds with the large-GRF flag when the kernel
# spills more than MAX_REG_SPILL bytes; "auto" here reproduces that retry. "igc_auto" is triton's own
# grf_mode="auto": IGC's heuristic chooses.
SMALL_GRF_FLAG = "-cl-intel-128-GRF-per-thread"
LARGE_GRF_FLAG = "-cl-intel-256-GRF-per-thread"
AUTO_GRF_FLAG = "-cl-intel-enable-auto-large-GRF-mode"
MAX_REG_SPILL = 1000
TRITON_GRF_MODE = {"128": "small", "256": "large", "auto": None, "igc_auto": "auto"}

# Symbols the Level Zero runtime itself resolves when it loads a module; not imports of missing code.
RUNTIME_SYMBOLS = ("__INTEL_PATCH_CROSS_THREAD_OFFSET_OFF_R0",)

_LOG_LIMIT = 4000  # characters of compiler output kept in a result


# --------------------------------------------------------------------------------------------- parsers


def parse_ze_info(text: str) -> dict[str, Any]:
    """The ``execution_env`` of the first kernel in an ``ocloc disasm`` ``.ze_info`` (YAML), as a flat dict.

    Only the flat ``key: scalar`` lines are read, so no YAML library is needed. ocloc omits zero or false
    entries (``spill_size``, ``has_dpas``...), so those default to 0 / False.
    """
    env: dict[str, Any] = {}
    in_env = False
    env_indent = -1
    for line in text.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if stripped == "execution_env:":
            if env:  # a second kernel: keep the first one's
                break
            in_env, env_indent = True, indent
            continue
        if not in_env:
            continue
        if not stripped or indent <= env_indent:
            in_env = False
            continue
        key, sep, value = stripped.partition(":")
        value = value.strip()
        if not sep or not value:
            continue
        if value in ("true", "false"):
            env[key] = value == "true"
        elif re.fullmatch(r"-?\d+", value):
            env[key] = int(value)
        else:
            env[key] = value
    return {
        "grf_count": env.get("grf_count"),
        "simd_size": env.get("simd_size"),
        "spill_size": env.get("spill_size", 0),
        "private_size": env.get("private_size", 0),
        "has_dpas": bool(env.get("has_dpas", False)),
        "execution_env": env,
    }


_ASM_OPCODE = re.compile(r"^\s*(?:\([^)]*\)\s*)?([A-Za-z][\w.]*)")


def asm_opcodes(asm: str) -> list[str]:
    """Opcode of every instruction line of an ``ocloc disasm`` ISA listing (labels and blank lines skipped).

    A line is ``[(predicate)] opcode[.modifiers] (exec_size|mask) operands {swsb} [// comment]``.
    """
    ops = []
    for line in asm.splitlines():
        m = _ASM_OPCODE.match(line)
        if m and not m.group(1).endswith(":") and not line.rstrip().endswith(":"):
            ops.append(m.group(1))
    return ops


def count_dpas(asm: str) -> int:
    """Number of DPAS (systolic matrix multiply) instructions: ``dpas.8x8``, ``dpasw.8x8``..."""
    return sum(1 for op in asm_opcodes(asm) if re.fullmatch(r"dpasw?(\..*)?", op))


def count_block2d(asm: str, kind: str = "load") -> int:
    """Number of 2D block messages of ``kind``: "load", "store" or "prefetch".

    They are ``send`` instructions; the disassembler names the message in the trailing comment, e.g.
    ``// wr:1+0, rd:31; load_block2d.ugm.d16.a64``. A prefetch is the same ``load_block2d`` message with a
    ``null`` destination and nothing read back (``rd:0``), so it is told apart by that count.
    """
    message = "store" if kind == "store" else "load"
    pattern = re.compile(rf"//.*?\brd:(\d+);.*\b{message}_block2d\b")
    count = 0
    for line in asm.splitlines():
        m = pattern.search(line)
        if not m or not _ASM_OPCODE.match(line):
            continue
        reads = int(m.group(1))
        if kind == "store" or (kind == "load") == (reads > 0):
            count += 1
    return count


def undefined_symbols(symtab: str) -> list[str]:
    """Names in an ``ocloc disasm`` ``.symtab`` that are undefined (section ``UNDEF``) and that the runtime
    does not resolve itself. Such a binary fails to load (missing builtins), whatever ocloc printed.

    Format: a header ``Id, Name, Section, Value, Type, Visibility, Binding`` then one row per symbol; row 0
    is the null symbol (name and section ``UNDEF``).
    """
    names = []
    for line in symtab.splitlines():
        cols = [c.strip() for c in line.split(",")]
        if len(cols) < 7 or not cols[0].isdigit():
            continue
        name, section = cols[1], cols[2]
        if section != "UNDEF" or name in ("", "UNDEF") or name in RUNTIME_SYMBOLS:
            continue
        names.append(name)
    return names


def parse_ocloc_warnings(log: str) -> list[str]:
    """Warning / error lines of ``ocloc compile`` output (spill warnings, scratch-space errors...)."""
    return [ln.strip() for ln in log.splitlines() if re.search(r"\b(warning|error)\b", ln, re.IGNORECASE)]


# --------------------------------------------------------------------------------------------- lowering


def _install_arch_stub() -> None:
    """Replace the backend's C helper that maps a device id to an arch name.

    ``XPUBackend.__init__`` compiles ``arch_parser.c`` against SYCL headers, which an offline machine lacks.
    The stub only has to name the arch, which the driver knows; it is set per compile in ``_ARCH``.
    """
    import triton.backends

    backend_cls = triton.backends.backends["intel"].compiler
    module_globals = backend_cls.__init__.__globals__
    if module_globals.get("_intel_compile_stubbed"):
        return
    original = module_globals["compile_module_from_src"]

    class _ArchParser:
        def parse_device_arch(self, _value: int) -> str:
            return _ARCH["arch"]

    def compile_module_from_src(src: str, name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "arch_utils":
            return _ArchParser()
        return original(src, name, *args, **kwargs)

    module_globals["compile_module_from_src"] = compile_module_from_src
    module_globals["_intel_compile_stubbed"] = True


_ARCH = {"arch": ""}


def lower_to_spirv(case: dict[str, Any]) -> tuple[bytes, str, str]:
    """Lower the case's kernel to SPIR-V; returns (spirv, kernel name, build flags from triton-xpu)."""
    import triton
    from triton.backends.compiler import GPUTarget

    arch = case["arch"]
    _install_arch_stub()
    _ARCH["arch"] = arch
    fn = getattr(importlib.import_module(case["module"]), case["function"])
    constexprs = dict(case.get("constexprs") or {})
    given = dict(case.get("signature") or {})
    signature = {}
    for name in fn.arg_names:
        if name in constexprs:
            signature[name] = "constexpr"
        elif name in given and given[name] != "constexpr":
            signature[name] = given[name]
        else:
            raise ValueError(f"argument {name!r} has neither a type in 'signature' nor a value in 'constexprs'")
    unknown = set(given) - set(fn.arg_names)
    if unknown:
        raise ValueError(f"'signature' names arguments the kernel does not have: {sorted(unknown)}")
    attrs = {}
    for name in case.get("divisible_by_16") or []:
        attrs[(fn.arg_names.index(name),)] = [["tt.divisibility", 16]]

    options = dict(case.get("options") or {})
    grf = str(options.pop("grf_mode", "auto"))
    if grf not in TRITON_GRF_MODE:
        raise ValueError(f"grf_mode {grf!r}: use one of {sorted(TRITON_GRF_MODE)}")
    if TRITON_GRF_MODE[grf] is not None:
        options["grf_mode"] = TRITON_GRF_MODE[grf]
    src = triton.compiler.ASTSource(fn=fn, signature=signature, constexprs=constexprs, attrs=attrs)
    # A fresh dict each time: the backend keeps per-arch properties in a class attribute.
    kernel = triton.compile(src, target=GPUTarget("xpu", dict(DEVICE_PROPS[arch]), 32), options=options)
    return kernel.asm["spv"], kernel.metadata.name, kernel.metadata.build_flags


# --------------------------------------------------------------------------------------------- native


def _tail(text: str) -> str:
    return text if len(text) <= _LOG_LIMIT else "..." + text[-_LOG_LIMIT:]


def native_build(ocloc: str, spv: Path, arch: str, flags: str, out: Path, timeout: float | None) -> dict[str, Any]:
    """``ocloc compile`` + ``ocloc disasm`` of one SPIR-V file with the given build flags into folder ``out``;
    the parsed results."""
    out.mkdir(parents=True)
    cmd = [ocloc, "compile", "-file", str(spv), "-spirv_input", "-device", arch,
           "-output", "kernel", "-output_no_suffix", "-out_dir", str(out)]
    if flags.strip():
        cmd += ["-options", flags.strip()]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=out)
    seconds = time.monotonic() - t0
    log = proc.stdout + proc.stderr
    binary = out / "kernel.bin"
    res: dict[str, Any] = {"flags": flags.strip(), "seconds": round(seconds, 3), "rc": proc.returncode,
                           "warnings": parse_ocloc_warnings(log)}
    if proc.returncode != 0 or not binary.exists() or "Build succeeded" not in log:
        res["error"] = _tail(log.strip()) or f"ocloc compile exited with {proc.returncode}"
        return res
    dump = out / "dump"
    dis = subprocess.run([ocloc, "disasm", "-file", str(binary), "-device", arch, "-dump", str(dump)],
                         capture_output=True, text=True, timeout=timeout, cwd=out)
    ze_info = dump / ".ze_info"
    if dis.returncode != 0 or not ze_info.exists():
        res["error"] = "ocloc disasm failed: " + _tail((dis.stdout + dis.stderr).strip())
        return res
    info = parse_ze_info(ze_info.read_text())
    asm = "\n".join(p.read_text(errors="replace") for p in sorted(dump.glob("*.asm")))
    symtab = (dump / ".symtab").read_text() if (dump / ".symtab").exists() else ""
    res.update(
        grf_count=info["grf_count"],
        simd_size=info["simd_size"],
        spill_bytes=info["spill_size"],
        private_bytes=info["private_size"],
        has_dpas=info["has_dpas"],
        dpas_count=count_dpas(asm),
        block2d_load_count=count_block2d(asm, "load"),
        block2d_store_count=count_block2d(asm, "store"),
        block2d_prefetch_count=count_block2d(asm, "prefetch"),
        instruction_count=len(asm_opcodes(asm)),
        undefined_imports=undefined_symbols(symtab),
        binary_bytes=binary.stat().st_size,
    )
    return res


def _has_grf_flag(flags: str) -> bool:
    return any(f in flags for f in (SMALL_GRF_FLAG, LARGE_GRF_FLAG, AUTO_GRF_FLAG))


def _grf_mode_name(attempt: dict[str, Any]) -> str | None:
    count = attempt.get("grf_count")
    return str(count) if count else None


def compile_case(case: dict[str, Any], ocloc: str, keep: Path | None = None,
                 ocloc_timeout: float | None = None) -> dict[str, Any]:
    """Compile one case end to end; never raises for a failure of the kernel or the compiler."""
    arch = case.get("arch")
    result: dict[str, Any] = {
        "kernel": f"{case.get('module')}:{case.get('function')}", "arch": arch, "spirv_ok": False,
        "native_ok": False, "grf_mode": None, "grf_count": None, "simd_size": None, "spill_bytes": None,
        "has_dpas": None, "dpas_count": None, "block2d_load_count": None, "undefined_imports": [],
        "compile_seconds": None, "spirv_seconds": None, "native_seconds": None, "build_flags": None,
        "attempts": [], "error": None,
    }
    if arch not in ARCHS:
        result["error"] = f"arch {arch!r}: use one of {list(ARCHS)}"
        return result
    # The kernel module is imported first and timed apart (torch's import is most of it), so that
    # compile_seconds is what the compilers spend, and an import error is named as such.
    t_import = time.monotonic()
    try:
        importlib.import_module(str(case.get("module")))
    except Exception as e:
        result["error"] = _tail(f"import of {case.get('module')} failed: {type(e).__name__}: {e}")
        return result
    result["import_seconds"] = round(time.monotonic() - t_import, 3)
    t0 = time.monotonic()
    try:
        spirv, name, flags = lower_to_spirv(case)
    except Exception as e:  # any failure to lower the kernel is this case's result
        result["error"] = _tail(f"SPIR-V lowering failed: {type(e).__name__}: {e}")
        result["compile_seconds"] = round(time.monotonic() - t0, 3)
        return result
    result.update(spirv_ok=True, spirv_seconds=round(time.monotonic() - t0, 3), kernel_name=name,
                  spirv_bytes=len(spirv))
    work = Path(tempfile.mkdtemp(prefix="intel_compile_", dir=keep))
    try:
        spv = work / "kernel.spv"
        spv.write_bytes(spirv)
        t1 = time.monotonic()
        attempt = native_build(ocloc, spv, arch, flags, work / "build", ocloc_timeout)
        result["attempts"].append(attempt)
        # The runtime's retry (driver.c): no GRF flag given and more than MAX_REG_SPILL bytes spilled ->
        # rebuild with the large register file; if that build fails, the first one is used.
        if "error" not in attempt and not _has_grf_flag(flags) and (attempt.get("spill_bytes") or 0) > MAX_REG_SPILL:
            retry = native_build(ocloc, spv, arch, f"{flags} {LARGE_GRF_FLAG}", work / "build_large_grf",
                                 ocloc_timeout)
            result["attempts"].append(retry)
            if "error" not in retry:
                attempt = retry
        result["native_seconds"] = round(time.monotonic() - t1, 3)
        result["build_flags"] = attempt["flags"]
        if "error" in attempt:
            result["error"] = attempt["error"]
        else:
            result["native_ok"] = True
            for key in ("grf_count", "simd_size", "spill_bytes", "has_dpas", "dpas_count", "block2d_load_count",
                        "block2d_store_count", "block2d_prefetch_count", "private_bytes", "instruction_count",
                        "undefined_imports", "binary_bytes", "warnings"):
                result[key] = attempt.get(key)
            result["grf_mode"] = _grf_mode_name(attempt)
    except subprocess.TimeoutExpired as e:
        result["error"] = f"ocloc timed out after {e.timeout} s"
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            result["artifacts"] = str(work)
    result["compile_seconds"] = round(time.monotonic() - t0, 3)
    return result


def default_ocloc() -> str:
    """``ocloc`` next to the triton-xpu install, as ``toolchain.sh`` lays out the cache folder."""
    import triton

    return str(Path(triton.__file__).resolve().parents[2] / "ocloc" / "ocloc")


def serve(ocloc: str) -> int:
    """Compile cases read one JSON line at a time from stdin, one JSON result line each on stdout, until
    stdin closes. The runner keeps one such process per worker so that torch, the plugin and triton-xpu
    are imported once, not once per case; it still times each case and, when a case aborts or hangs the
    compiler, kills this process, reports that case and starts a fresh one for the rest. One process
    compiles for one arch only (the runner's choice): the backend keeps per-arch state between compiles."""
    # Result lines go to the original stdout; anything else written there (by Python or by native code)
    # goes to stderr, so it cannot be mistaken for a result.
    results = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        if not line.strip():
            continue
        case = json.loads(line)
        result = compile_case(case, ocloc)
        result["case"] = case
        results.write(json.dumps(result, sort_keys=True) + "\n")
        results.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", nargs="?", default="-", help="case JSON file ('-' or nothing: stdin)")
    parser.add_argument("--ocloc", help="ocloc executable (default: CACHE_DIR/ocloc/ocloc next to triton-xpu)")
    parser.add_argument("--keep", type=Path, help="keep SPIR-V, binary and disassembly under this folder")
    parser.add_argument("--serve", action="store_true",
                        help="compile one case per stdin line, one result line each (see serve())")
    args = parser.parse_args(argv)
    # Triton's on-disk cache would turn a repeated compile into a lookup and hide its cost; a private
    # one per process also keeps triton-xpu's entries out of the project Triton's cache.
    with tempfile.TemporaryDirectory(prefix="intel_compile_triton_") as triton_cache:
        os.environ["TRITON_CACHE_DIR"] = triton_cache
        if args.serve:
            return serve(args.ocloc or default_ocloc())
        text = sys.stdin.read() if args.case == "-" else Path(args.case).read_text()
        case = json.loads(text)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
        result = compile_case(case, args.ocloc or default_ocloc(), keep=args.keep)
    result["case"] = case
    json.dump(result, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
