"""oneCCL / SYCL defaults for multi-card serving, applied only where the user set nothing.

IPEX-LLM's ``start-vllm-service.sh`` exports a set of oneCCL variables before every serve;
users who come from it rely on them, and several are what keeps a single-host TP/PP run from
hanging at the first all-reduce. On an Intel GPU the plugin sets the ones that still mean
something for PyTorch's own ``xccl`` backend as *defaults* (single-card runs too: they cost
nothing there, and ``SYCL_CACHE_PERSISTENT`` helps every run): a variable present in the environment (even
empty) is never touched. IPEX-only switches of that script (``USE_XETLA``,
``TORCH_LLM_ALLREDUCE``, ``CCL_SAME_STREAM``, ``CCL_BLOCKING_WAIT``: read by IPEX or
torch-ccl, which this plugin does not use) are left out.

Only the standard library is imported: the doctor reads this table on machines without vLLM.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    value: str
    why: str
    single_host_only: bool = False


PRESETS: tuple[Preset, ...] = (
    Preset("CCL_WORKER_COUNT", "2",
           "two oneCCL progress threads per rank, IPEX-LLM's value; one thread serialises the "
           "all-reduces of a TP step behind each other"),
    Preset("CCL_ATL_TRANSPORT", "ofi",
           "libfabric transport; the MPI transport needs an MPI launcher, which vLLM's workers do not have"),
    Preset("FI_PROVIDER", "shm",
           "ranks of one host talk through shared memory; without it libfabric probes network "
           "providers (tcp, verbs) and can stall start-up on hosts without them",
           single_host_only=True),
    Preset("CCL_ATL_SHM", "1", "oneCCL's shared-memory path between ranks of one host",
           single_host_only=True),
    Preset("CCL_ZE_IPC_EXCHANGE", "sockets",
           "device-memory IPC handles travel over sockets; the default (pidfd) needs ptrace "
           "rights that containers usually drop, and then the first all-reduce hangs"),
    Preset("SYCL_CACHE_PERSISTENT", "1",
           "keep JIT-compiled device binaries on disk, so a restart does not compile every kernel again"),
)


def applicable(single_host: bool) -> tuple[Preset, ...]:
    """The presets for this run: libfabric's shared-memory choices only when every rank is on one host."""
    return tuple(p for p in PRESETS if single_host or not p.single_host_only)


def apply_ccl_presets(environ: MutableMapping[str, str], single_host: bool = True) -> list[str]:
    """Set each applicable preset that ``environ`` lacks; returns the names it set.

    A name already in ``environ`` keeps its value, whatever it is: the user's setting wins."""
    applied = []
    for preset in applicable(single_host):
        if preset.name not in environ:
            environ[preset.name] = preset.value
            applied.append(preset.name)
    return applied


def presets_in_effect(environ: MutableMapping[str, str], single_host: bool = True) -> list[tuple[str, str, str]]:
    """(name, value, origin) for every applicable preset, what the doctor prints. ``origin``:
    ``yours`` (set to another value), ``default`` (set to the preset's value), or ``default, set
    when the engine starts on an Intel GPU``."""
    rows = []
    for preset in applicable(single_host):
        if preset.name in environ:
            origin = "default" if environ[preset.name] == preset.value else "yours"
            rows.append((preset.name, environ[preset.name], origin))
        else:
            rows.append((preset.name, preset.value, "default, set when the engine starts on an Intel GPU"))
    return rows
