"""Baichuan2's configuration, the tests' own copy of the class its checkpoints ship as remote
code (``auto_map`` → ``configuration_baichuan.BaichuanConfig``; Baichuan2-7B's fields, 13B has
``model_max_length`` in place of ``max_position_embeddings``). transformers and vLLM ship no
config class for ``model_type`` "baichuan"; the tiny test checkpoints carry this one
(``tests/harness/models.py::build_tiny_baichuan2``), loaded with ``trust_remote_code=True``
from the checkpoint folder only."""

from transformers import PretrainedConfig


class BaichuanConfig(PretrainedConfig):
    model_type = "baichuan"
    keys_to_ignore_at_inference = ["past_key_values"]

    def __init__(self, vocab_size=125696, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                 num_attention_heads=32, hidden_act="silu", max_position_embeddings=4096,
                 initializer_range=0.02, rms_norm_eps=1e-6, use_cache=True, pad_token_id=0, bos_token_id=1,
                 eos_token_id=2, tie_word_embeddings=False, z_loss_weight=0, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.hidden_act = hidden_act
        self.max_position_embeddings = max_position_embeddings
        self.initializer_range = initializer_range
        self.rms_norm_eps = rms_norm_eps
        self.use_cache = use_cache
        self.z_loss_weight = z_loss_weight
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id,
                         tie_word_embeddings=tie_word_embeddings, **kwargs)
