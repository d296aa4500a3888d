#!/usr/bin/env bash
# The main job: set up, build the demo model, serve it with the plugin (host mode),
# ask one chat question through the OpenAI API, print the answer, stop the server.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup_env.sh
. .venv/bin/activate
export IPEX_PLUGIN_HOST_MODE=${IPEX_PLUGIN_HOST_MODE:-1}
python examples/serve_and_chat.py "$@"
