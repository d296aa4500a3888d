"""MiniCPM-V 2.6's configuration, the tests' own minimal copy of the class its checkpoints ship as
remote code (``auto_map`` -> ``configuration_minicpmv.MiniCPMVConfig``). transformers and vLLM
ship no config class for ``model_type`` "minicpmv", so a checkpoint needs this one; the tiny test
checkpoints carry it (``tests/harness/minicpmv_model.py``), loaded with ``trust_remote_code=True``
from the checkpoint folder only.

As in MiniCPM-V 2.6 the language model's fields are Qwen2's, at the top level (vLLM's
``MiniCPMV2_6`` builds its ``Qwen2ForCausalLM`` from this config itself; for 4.5, whose own
config derives from Qwen3's, the checkpoint adds Qwen3's ``head_dim`` and ``attention_bias``,
which vLLM's ``Qwen3ForCausalLM`` reads with defaults); beside them what vLLM's
``minicpmv.py`` reads: ``version`` (2.6 picks ``MiniCPMV2_6``, 4.5 ``MiniCPMV4_5``), ``query_num`` (the
resampler's queries: embedding tokens per slice), ``image_size`` and ``max_slice_num`` (the
largest image vLLM profiles with: ``image_size`` wide, ``max_slice_num`` times as high),
``drop_vision_last_layer`` and ``vision_config`` (the SigLIP / Idefics2 vision tower, ``vpm``).
"""

from transformers import Qwen2Config, SiglipVisionConfig


class MiniCPMVConfig(Qwen2Config):
    model_type = "minicpmv"
    keys_to_ignore_at_inference = ["past_key_values"]

    def __init__(self, version: float = 2.6, query_num: int = 64, image_size: int = 448,
                 max_slice_num: int = 9, drop_vision_last_layer: bool = False, use_image_id: bool = True,
                 slice_config: dict | None = None, vision_config: dict | SiglipVisionConfig | None = None,
                 **kwargs) -> None:
        self.version = version
        self.query_num = query_num
        self.image_size = image_size
        self.max_slice_num = max_slice_num
        self.drop_vision_last_layer = drop_vision_last_layer
        self.use_image_id = use_image_id
        self.slice_config = dict(slice_config or {"max_slice_nums": max_slice_num})
        if not isinstance(vision_config, SiglipVisionConfig):
            vision_config = SiglipVisionConfig(**(vision_config or {}))
        self.vision_config = vision_config
        super().__init__(**kwargs)
