"""A SIGKILLed server leaves no engine or worker process behind (they hold the model and its
device memory): each process vLLM starts under the plugin's platform ends with its parent."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from tests.harness.server import VllmServer, free_port


@pytest.mark.e2e
def test_engine_and_worker_end_when_the_server_is_killed(tiny_llama_path, tmp_path):
    server = VllmServer(tiny_llama_path, ["--dtype", "float32", "--enforce-eager", "--max-model-len", "256"],
                        free_port(), str(tmp_path / "serve.log"))
    server.start()
    try:
        children = psutil.Process(server.proc.pid).children(recursive=True)
        names = [" ".join(p.cmdline()[:3]) for p in children]
        assert len(children) >= 2, names  # the engine core and its worker (and the resource tracker)
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait()
        _, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, [(p.pid, " ".join(p.cmdline()[:4])) for p in alive]
    finally:
        try:
            os.killpg(server.proc.pid, signal.SIGKILL)  # whatever is left, so a failure leaks nothing
        except ProcessLookupError:
            pass
        server.stop()
