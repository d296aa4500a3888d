"""docker/start-vllm-service.sh in host mode, started the way the host-mode image starts it
(docker/start-host-demo.sh: the demo model, then the service script): IPEX-LLM's knobs
(environment variables) reach vLLM's flags, and the server answers with the API key and the
low-bit format."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from tests.harness.server import VllmServer, free_port
from vllm_ipex_plugin import envs

DOCKER = Path(__file__).resolve().parents[2] / "docker"
SCRIPT = DOCKER / "start-vllm-service.sh"


@pytest.mark.e2e
def test_start_script_serves_the_demo_model_in_host_mode(demo_model_path, tmp_path):
    port = free_port()
    env = dict(os.environ, **{envs.HOST_MODE: "1"}, SERVED_MODEL_NAME="smollm2",
               PORT=str(port), API_KEY="k-123", LOW_BIT="sym_int4", DTYPE="float32", MAX_MODEL_LEN="512",
               MAX_NUM_BATCHED_TOKENS="512", MAX_NUM_SEQS="4", BLOCK_SIZE="16", PYTHON=sys.executable)
    env.pop("MODEL_PATH", None)  # the entry script builds (here: finds) the demo model itself
    log = tmp_path / "serve.log"
    entry = ["bash", str(DOCKER / "start-host-demo.sh")]
    with VllmServer(demo_model_path, [], port, str(log), env=env, command=entry) as server:
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="k-123", max_retries=0)
        reply = client.chat.completions.create(
            model="smollm2", messages=[{"role": "user", "content": "What is the capital of France?"}],
            max_tokens=12, temperature=0)
        assert reply.choices[0].message.content.strip()
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=server.base_url + "/v1", api_key="wrong", max_retries=0).models.list()
    text = log.read_text()
    assert f"'model': '{demo_model_path}'" in text, text[:3000]
    assert "ipex_low_bit" in text and "sym_int4" in text, text[-3000:]
    for flag in ("'max_num_seqs': 4", "'block_size': 16", "'max_num_batched_tokens': 512"):
        assert flag in text, (flag, text[:3000])


def test_start_script_refuses_an_unknown_executor():
    proc = subprocess.run(["bash", str(SCRIPT)], env=dict(os.environ, EXECUTOR="slurm"), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "start-vllm-service.sh: EXECUTOR=slurm is not mp or ray"


def test_dockerfiles_pass_hadolint():
    import shutil

    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    proc = subprocess.run([hadolint, str(DOCKER / "Dockerfile.xpu"), str(DOCKER / "Dockerfile.host")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
