"""vLLM's GPU model runner state the host-mode worker fills in.

Manifest entry ``intermediate-tensors`` (``compat/__init__.py``).
"""

from __future__ import annotations


def ensure_intermediate_tensors(runner) -> None:
    """Allocate ``runner.intermediate_tensors`` (a later pipeline stage's input buffers) if absent.

    vLLM's model runner allocates them during its warm-up forward pass. vLLM's CPU worker
    skips that pass in eager mode when the KV cache size is given (host mode always gives
    one), so a second stage would find no buffer and fail its first step; allocate them the
    way the runner's own warm-up does.
    """
    if runner.intermediate_tensors is None:
        runner.intermediate_tensors = runner.model.make_empty_intermediate_tensors(
            batch_size=runner.max_num_tokens, dtype=runner.model_config.dtype, device=runner.device
        )
