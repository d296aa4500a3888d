"""A tensor-parallel worker that dies or stops mid-generation ends the server with an error, in
bounded time, leaving no process behind (host mode, TP=2, gloo)."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
import urllib.error
import urllib.request

import psutil
import pytest

from tests.harness.server import VllmServer, free_port
from vllm_ipex_plugin import envs

COLLECTIVE_TIMEOUT_S = 10


def _long_completion(server: VllmServer, model: str, outcome: dict) -> None:
    body = json.dumps({"model": model, "prompt": "Once upon a time", "max_tokens": 1000, "temperature": 0,
                       "ignore_eos": True}).encode()
    request = urllib.request.Request(server.base_url + "/v1/completions", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            outcome["status"] = resp.status
    except urllib.error.HTTPError as exc:
        outcome["status"] = exc.code
    except OSError as exc:  # connection reset: the server went away mid-request
        outcome["status"] = repr(exc)


def _tp1_worker(children: list[psutil.Process]) -> psutil.Process:
    workers = [p for p in children if p.name().endswith("Worker_TP1")]
    assert len(workers) == 1, [p.name() for p in children]
    return workers[0]


@pytest.mark.e2e
@pytest.mark.parametrize(("fault", "engine_error"), [
    (signal.SIGKILL, r"Connection (closed|reset) by peer"),
    (signal.SIGSTOP, rf"Timed out waiting {COLLECTIVE_TIMEOUT_S * 1000}ms"),
])
def test_tp_worker_fault_ends_the_server_without_orphans(tiny_llama_path, tmp_path, fault, engine_error):
    """SIGKILL: the peer's collective fails at once. SIGSTOP: a rank that hangs; the other one
    gives up after the plugin's collective timeout instead of waiting for good."""
    log = tmp_path / "serve.log"
    env = dict(os.environ, **{envs.COLLECTIVE_TIMEOUT_S: str(COLLECTIVE_TIMEOUT_S)})
    server = VllmServer(tiny_llama_path, ["--tensor-parallel-size", "2", "--dtype", "float32", "--enforce-eager",
                                          "--max-model-len", "1024"], free_port(), str(log), env=env)
    server.start()
    try:
        children = psutil.Process(server.proc.pid).children(recursive=True)
        victim = _tp1_worker(children)
        outcome: dict = {}
        client = threading.Thread(target=_long_completion, args=(server, tiny_llama_path, outcome))
        client.start()
        time.sleep(3)  # generating by now: 1000 tokens take far longer
        assert client.is_alive(), outcome
        faulted_at = time.monotonic()
        os.kill(victim.pid, fault)
        client.join(timeout=60)
        assert not client.is_alive()
        assert outcome["status"] == 500, outcome
        server.proc.wait(timeout=30)
        assert time.monotonic() - faulted_at < 30 + COLLECTIVE_TIMEOUT_S
        _, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, [(p.pid, p.name(), p.status()) for p in alive]
        text = log.read_text()
        assert "EngineDeadError" in text and re.search(engine_error, text), text[-3000:]
    finally:
        server.kill_tree()  # whatever is left, so a failure leaks nothing
