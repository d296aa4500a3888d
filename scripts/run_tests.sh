#!/usr/bin/env bash
# The test command (also what .ci/run calls): set up, lint, run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup_env.sh
. .venv/bin/activate
ruff check vllm_ipex_plugin tests benchmarks examples
python -m pytest -q -rA --durations=30 "$@" tests
