"""``vllm serve`` with the plugin in host mode, driven through the ``openai`` client."""

from __future__ import annotations

import openai
import pytest

from tests.harness.server import VllmServer, free_port

API_KEY = "test-secret-key"


@pytest.fixture(scope="module")
def server(demo_model_path, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "server.log"
    args = [
        "--api-key", API_KEY, "--dtype", "float32", "--max-model-len", "1024",
        "--enforce-eager", "--served-model-name", "smollm2", "--device", "xpu",
    ]
    with VllmServer(demo_model_path, args, free_port(), str(log)) as srv:
        yield srv
    assert "IPEX_XPU_ATTN" in open(log).read(), "server did not use the plugin's attention"


def _client(srv, key=API_KEY):
    return openai.OpenAI(base_url=srv.base_url + "/v1", api_key=key, max_retries=0)


@pytest.mark.e2e
def test_completion(server):
    resp = _client(server).completions.create(
        model="smollm2", prompt="The capital of France is", max_tokens=8, temperature=0
    )
    assert "Paris" in resp.choices[0].text
    assert resp.usage.completion_tokens == 8


@pytest.mark.e2e
def test_chat_completion(server):
    resp = _client(server).chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=16,
        temperature=0,
    )
    assert "Paris" in resp.choices[0].message.content


@pytest.mark.e2e
def test_chat_streaming_equals_non_streaming(server):
    kwargs = dict(
        model="smollm2",
        messages=[{"role": "user", "content": "Name three colors."}],
        max_tokens=16,
        temperature=0,
    )
    client = _client(server)
    full = client.chat.completions.create(**kwargs).choices[0].message.content
    pieces = [
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(stream=True, **kwargs)
        if chunk.choices
    ]
    assert len(pieces) > 2
    assert "".join(pieces) == full


@pytest.mark.e2e
def test_api_key_is_enforced(server):
    with pytest.raises(openai.AuthenticationError) as err:
        _client(server, key="wrong-key").completions.create(
            model="smollm2", prompt="hi", max_tokens=1
        )
    assert err.value.status_code == 401


@pytest.mark.e2e
def test_bad_request_does_not_stop_the_server(server):
    client = _client(server)
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="smollm2", prompt="hi", max_tokens=100000)
    resp = client.completions.create(model="smollm2", prompt="Hello", max_tokens=2)
    assert resp.usage.completion_tokens == 2


def _requests_running(srv) -> float:
    import re
    import urllib.request

    with urllib.request.urlopen(srv.base_url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return sum(float(v) for v in re.findall(r"^vllm:num_requests_running\{[^}]*\} (\S+)$", text, re.M))


@pytest.mark.e2e
def test_client_that_disconnects_mid_stream_frees_its_request(server):
    """The request is aborted (its KV blocks go back to the pool) when the client goes away, and
    the server goes on serving; without the abort it would run for its 900 tokens."""
    import http.client
    import json
    import socket
    import time

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    body = json.dumps({"model": "smollm2", "prompt": "Count: 1, 2, 3,", "max_tokens": 900, "stream": True,
                       "ignore_eos": True, "temperature": 0})
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json",
                                                   "Authorization": f"Bearer {API_KEY}"})
    resp = conn.getresponse()
    assert resp.status == 200
    chunks = 0
    while chunks < 3:
        if resp.readline().startswith(b"data: "):
            chunks += 1
    assert _requests_running(server) == 1
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    deadline = time.time() + 8
    while _requests_running(server) and time.time() < deadline:
        time.sleep(0.25)
    assert _requests_running(server) == 0
    test_completion(server)


# FastChat's own code for an OpenAI-compatible model (what its web UI calls for an entry of
# ``--register-api-endpoint-file``), run in a subprocess: importing it swaps sys.stdout for a logger.
_FASTCHAT_CLIENT = """
import json, sys
from fastchat.conversation import get_conv_template
from fastchat.serve.api_provider import get_api_provider_stream_iter
base, key, question = sys.argv[1:4]
conv = get_conv_template("chatgpt")
conv.append_message(conv.roles[0], question)
conv.append_message(conv.roles[1], None)
api = {"api_type": "openai", "model_name": "smollm2", "api_base": base, "api_key": key}
text = ""
for data in get_api_provider_stream_iter(conv, "smollm2", api, 0.0, 1.0, 16):
    text = data["text"]
sys.__stdout__.write(json.dumps({"messages": conv.to_openai_api_messages(), "text": text}) + "\\n")
"""


@pytest.mark.e2e
def test_fastchat_openai_route_streams_the_servers_answer(server, tmp_path):
    """FastChat (``fschat`` 0.2.36) through its OpenAI-compatible path: its streamed answer equals the
    server's own non-streaming greedy answer to the same messages. (FastChat's ``vllm_worker`` does not
    start against vLLM 0.32: README, "FastChat".)"""
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _FASTCHAT_CLIENT, server.base_url + "/v1", API_KEY,
                           "What is the capital of France?"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["messages"][-1] == {"role": "user", "content": "What is the capital of France?"}
    want = _client(server).chat.completions.create(model="smollm2", messages=got["messages"], max_tokens=16,
                                                   temperature=0)
    assert got["text"] == want.choices[0].message.content
    assert "Paris" in got["text"]
