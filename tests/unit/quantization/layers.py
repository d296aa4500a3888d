"""Run a linear method on a plain ``torch.nn.Module`` the way vLLM's linear layers and loader do.

``create_weights(layer, input_size_per_partition, output_partition_sizes, input_size, output_size,
params_dtype, weight_loader=...)`` (``LinearBase`` subclasses), each checkpoint tensor through its
parameter's ``weight_loader`` (the model loader), ``process_weights_after_loading(layer)``
(``model_loader.utils``), then ``apply(layer, x, bias)`` (``forward``). Single rank: vLLM's
``default_weight_loader`` is the loader a layer hands over (no shard offsets).
"""

from __future__ import annotations

import socket

import pytest
import torch
from vllm.model_executor.model_loader.weight_utils import default_weight_loader


def load_layer(method, checkpoint: dict[str, torch.Tensor], n: int, k: int,
               params_dtype: torch.dtype = torch.float32, partitions: list[int] | None = None) -> torch.nn.Module:
    layer = torch.nn.Module()
    method.create_weights(layer, input_size_per_partition=k, output_partition_sizes=partitions or [n], input_size=k,
                          output_size=n, params_dtype=params_dtype, weight_loader=default_weight_loader)
    for name, tensor in checkpoint.items():
        param = getattr(layer, name)
        param.weight_loader(param, tensor)
    method.process_weights_after_loading(layer)
    return layer


def rel_err(y: torch.Tensor, ref: torch.Tensor) -> float:
    return ((y.double() - ref).norm() / ref.norm()).item()


@pytest.fixture(scope="module")
def single_rank():
    """vLLM's parallel state for one rank (gloo): ``ModelWeightParameter`` and the pre-quantized
    loader ask it for the tensor-parallel rank and size."""
    from vllm.config import VllmConfig, set_current_vllm_config
    from vllm.distributed import parallel_state

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with set_current_vllm_config(VllmConfig()):
        parallel_state.init_distributed_environment(world_size=1, rank=0, local_rank=0, backend="gloo",
                                                    distributed_init_method=f"tcp://127.0.0.1:{port}")
        parallel_state.initialize_model_parallel(1, 1)
    yield
    parallel_state.destroy_model_parallel()
    parallel_state.destroy_distributed_environment()
