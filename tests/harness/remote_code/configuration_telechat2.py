"""TeleChat2's configuration, the tests' own copy of the class its checkpoints ship as remote
code (``auto_map`` → ``configuration_telechat2.Telechat2Config``): BLOOM-style names
(``n_layer``, ``n_head``, ``ffn_hidden_size``, ``layer_norm_epsilon``). transformers and vLLM
ship no config class for ``model_type`` "telechat", so a checkpoint needs this one; the tiny
test checkpoints carry it (``tests/harness/models.py::build_tiny_telechat2``), loaded with
``trust_remote_code=True`` from the checkpoint folder only."""

from transformers import PretrainedConfig


class Telechat2Config(PretrainedConfig):
    model_type = "telechat"
    keys_to_ignore_at_inference = ["past_key_values"]
    # The two standard names TeleChat's own config maps; vLLM's TeleChat2Model adds
    # intermediate_size and rms_norm_eps (and hidden_act "silu") itself.
    attribute_map = {"num_hidden_layers": "n_layer", "num_attention_heads": "n_head"}

    def __init__(self, vocab_size=160256, hidden_size=4096, n_layer=30, n_head=32, ffn_hidden_size=12288,
                 layer_norm_epsilon=1e-5, initializer_range=0.02, use_cache=True, bos_token_id=1,
                 eos_token_id=2, pad_token_id=3, apply_residual_connection_post_layernorm=False,
                 hidden_dropout=0.0, attention_dropout=0.0, seq_length=8192, training_seqlen=8192,
                 logn=True, embed_layernorm=False, tie_word_embeddings=False, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.n_layer = n_layer
        self.n_head = n_head
        self.ffn_hidden_size = ffn_hidden_size
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self.use_cache = use_cache
        self.apply_residual_connection_post_layernorm = apply_residual_connection_post_layernorm
        self.hidden_dropout = hidden_dropout
        self.attention_dropout = attention_dropout
        self.seq_length = seq_length
        self.training_seqlen = training_seqlen
        self.logn = logn
        self.embed_layernorm = embed_layernorm
        super().__init__(bos_token_id=bos_token_id, eos_token_id=eos_token_id, pad_token_id=pad_token_id,
                         tie_word_embeddings=tie_word_embeddings, **kwargs)
