"""Build (once, cached) and install a torchvision wheel that imports beside torch +cpu.

    python scripts/torchvision_cpu.py [--cache DIR]

Why: vLLM's image processors (LLaVA, Qwen2-VL, PaliGemma, Gemma3, ...) import torchvision's
transforms. The registry's torchvision wheels are built for CUDA: their ``_C.so`` and
``image.so`` link ``libtorch_cuda.so`` and fail to load beside torch 2.13.0+cpu, and
torchvision then fails at import (its ``_meta_registrations`` registers fake kernels for
``torchvision::nms`` / ``qnms`` without checking that the operator library loaded). No source
distribution is published, so this does what a CPU-only build would give the image processors:

1. downloads the torchvision wheel that matches the installed torch (``0.(minor + 15)``),
   without dependencies;
2. drops the CUDA-linked binaries (``_C.so``, ``image.so``) and the CUDA libraries bundled
   beside them; the detection operators (``nms``, ``roi_align``, ...) and ``torchvision.io``'s
   native image codecs are then unavailable, which no vLLM image processor uses (they decode
   with Pillow);
3. guards the two unconditional fake-kernel registrations the way torchvision guards every
   other one (``torchvision.extension._has_ops()``);
4. writes the result as ``torchvision-<version>+hostcpu`` with a fresh RECORD and installs it
   with ``--no-deps``.

The rebuilt wheel is cached (``~/.cache/vllm_ipex_plugin/wheels``), so later set-ups only
install it. Tooling for host mode: the plugin itself never imports torchvision.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

LOCAL_TAG = "hostcpu"
DROPPED = (re.compile(r"^torchvision/(_C|image)\.so$"), re.compile(r"^torchvision\.libs/"))
UNGUARDED_FAKE = '@torch.library.register_fake("torchvision::'
GUARD = '''

def _register_fake_if_loaded(qualname):
    """torch.library.register_fake where torchvision's operator library is loaded; a no-op
    decorator otherwise (rebuilt for host mode by vllm_ipex_plugin's scripts/torchvision_cpu.py)."""
    if torchvision.extension._has_ops():
        return torch.library.register_fake(qualname)
    return lambda fn: fn
'''


def matching_version() -> str:
    """The torchvision release series of the installed torch (torch 2.N pairs with torchvision 0.N+15)."""
    import torch

    major, minor = (int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    if major != 2:
        raise SystemExit(f"torchvision_cpu: unsupported torch {torch.__version__}; expected torch 2.x")
    return f"0.{minor + 15}"


def download(series: str, dest: Path) -> Path:
    """The registry's wheel of the newest ``series`` release for this interpreter (no deps)."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "-d", str(dest), f"torchvision=={series}.*"], check=True)
    wheels = sorted(p for p in dest.glob("torchvision-*.whl") if LOCAL_TAG not in p.name)
    if not wheels:
        raise SystemExit(f"torchvision_cpu: no torchvision {series}.* wheel was downloaded to {dest}")
    return wheels[-1]


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def rebuild(src: Path, out_dir: Path) -> Path:
    """``src`` without the CUDA binaries, with the guarded registrations, as ``<version>+hostcpu``."""
    name, version, *tags = src.name[: -len(".whl")].split("-")
    new_version = f"{version.split('+')[0]}+{LOCAL_TAG}"
    old_info, new_info = f"{name}-{version}.dist-info", f"{name}-{new_version}.dist-info"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{name}-{new_version}-{'-'.join(tags)}.whl"
    files: dict[str, bytes] = {}
    with zipfile.ZipFile(src) as zin:
        for item in zin.infolist():
            if item.is_dir() or any(p.search(item.filename) for p in DROPPED):
                continue
            files[item.filename] = zin.read(item)
    meta = "torchvision/_meta_registrations.py"
    text = files[meta].decode()
    if UNGUARDED_FAKE not in text:
        raise SystemExit(f"torchvision_cpu: {src.name}: {meta} changed (no unguarded register_fake); "
                         "check whether this step is still needed")
    anchor = "import torchvision.extension  # noqa: F401\n"
    if anchor not in text:
        raise SystemExit(f"torchvision_cpu: {src.name}: {meta} no longer imports torchvision.extension as expected")
    text = text.replace(anchor, anchor + GUARD, 1).replace(UNGUARDED_FAKE, '@_register_fake_if_loaded("torchvision::')
    files[meta] = text.encode()
    renamed: dict[str, bytes] = {}
    for fname, data in files.items():
        if fname.startswith(old_info + "/"):
            fname = new_info + fname[len(old_info):]
            if fname.endswith("/METADATA"):
                data = re.sub(rb"(?m)^Version: .*$", f"Version: {new_version}".encode(), data, count=1)
        renamed[fname] = data
    record = f"{new_info}/RECORD"
    renamed.pop(record, None)
    lines = [_record_line(f, d) for f, d in sorted(renamed.items())] + [f"{record},,"]
    renamed[record] = ("\n".join(lines) + "\n").encode()
    tmp = out.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        for fname, data in renamed.items():
            zout.writestr(fname, data)
    tmp.rename(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "vllm_ipex_plugin" / "wheels")
    args = parser.parse_args(argv)
    series = matching_version()
    built = sorted(args.cache.glob(f"torchvision-{series}.*+{LOCAL_TAG}-*.whl"))
    if not built:
        with tempfile.TemporaryDirectory() as tmp:
            built = [rebuild(download(series, Path(tmp)), args.cache)]
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(built[-1])],
                   check=True)
    subprocess.run([sys.executable, "-c", "import torchvision.transforms.v2"], check=True)
    print(f"torchvision_cpu: installed {built[-1].name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
