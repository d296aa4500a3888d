"""LoRA adapters for the tests, made here with peft on a tiny model (no hub download)."""

from __future__ import annotations

import torch

from tests.harness.reference import hf_model

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def make_lora_adapter(model_path: str, folder: str, seed: int, rank: int = 8) -> str:
    """A random rank-``rank`` adapter on every projection of ``model_path``, saved to ``folder``;
    its B matrices scaled up so that it changes greedy tokens (a dropped adapter then fails)."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    model = get_peft_model(hf_model(model_path),
                           LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=LORA_TARGETS,
                                      init_lora_weights=False))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.mul_(4.0)
    model.save_pretrained(folder)
    return folder
