"""The processes vLLM starts for the plugin's platform end when the process that started them dies.

vLLM's API server starts an engine-core process, which starts the workers; a SIGKILL of the
server (an out-of-memory kill, a container runtime, ``kill -9``) gives them no chance to be
told, and they stay with the model and its device memory for good. On Linux each such child
asks the kernel for a SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), which runs vLLM's
own shutdown path in it. The main process is left alone: its lifetime is its user's.

The engine core gets SIGTERM, so that it can still stop its workers the usual way. A worker
gets SIGKILL: its engine core stops every worker before it exits, so a worker whose engine
core is gone has nobody left to serve, and a worker that is stopped, or stuck waiting in a
collective for a peer that died, would never act on a SIGTERM.

Linux sends the signal when the *thread* that started the child ends, not only the whole
process: vLLM starts its engine core and workers from the main thread of their parent (the
API server's event loop, ``LLM()``'s caller, the engine core's busy loop), which lives as long
as the process does. A program that builds an engine from a short-lived thread would see it
stopped when that thread returns.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys

from vllm_ipex_plugin.compat.process_names import is_vllm_worker_process

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def end_this_process_with_its_parent() -> bool:
    """SIGKILL for a vLLM worker, SIGTERM for any other child (the engine core); see the module doc."""
    return end_with_parent(signal.SIGKILL if is_vllm_worker_process() else signal.SIGTERM)


def end_with_parent(sig: signal.Signals = signal.SIGTERM) -> bool:
    """In a process started by ``multiprocessing`` on Linux: deliver ``sig`` when the parent
    dies (at once if it already has). Returns whether the request is in place."""
    parent = multiprocessing.parent_process()
    if parent is None or not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if os.getppid() != parent.pid:  # the parent died before the request was made
        os.kill(os.getpid(), sig)
    return True
