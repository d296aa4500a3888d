#!/usr/bin/env bash
# IPEX-LLM's start-vllm-service.sh, for stock vLLM + vllm_ipex_plugin on Intel GPUs.
# Same environment variables: MODEL_PATH, SERVED_MODEL_NAME, TENSOR_PARALLEL_SIZE, LOW_BIT.
# Not run on Intel hardware by this project yet (see README).
set -euo pipefail
MODEL_PATH=${MODEL_PATH:-/llm/models/model}
SERVED_MODEL_NAME=${SERVED_MODEL_NAME:-model}
TENSOR_PARALLEL_SIZE=${TENSOR_PARALLEL_SIZE:-1}
LOW_BIT=${LOW_BIT:-fp8}
export CCL_WORKER_COUNT=${CCL_WORKER_COUNT:-2}
export SYCL_CACHE_PERSISTENT=1
export FI_PROVIDER=${FI_PROVIDER:-shm}
export CCL_ATL_TRANSPORT=${CCL_ATL_TRANSPORT:-ofi}
export CCL_ZE_IPC_EXCHANGE=${CCL_ZE_IPC_EXCHANGE:-sockets}
export CCL_ATL_SHM=1
exec python -m vllm.entrypoints.openai.api_server \
  --model "$MODEL_PATH" --served-model-name "$SERVED_MODEL_NAME" \
  --port "${PORT:-8000}" --trust-remote-code \
  --device xpu --quantization ipex_low_bit --load-in-low-bit "$LOW_BIT" \
  --dtype float16 --gpu-memory-utilization "${GPU_MEMORY_UTILIZATION:-0.9}" \
  --max-model-len "${MAX_MODEL_LEN:-2000}" --max-num-batched-tokens "${MAX_NUM_BATCHED_TOKENS:-3000}" \
  --max-num-seqs "${MAX_NUM_SEQS:-256}" --tensor-parallel-size "$TENSOR_PARALLEL_SIZE" \
  ${API_KEY:+--api-key "$API_KEY"} "$@"
