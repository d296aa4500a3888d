"""``IPEX_XPU_ATTN``: paged attention for the plugin's platform.

KV cache: vLLM's per-layer logical view ``[num_blocks, num_kv_heads, block_size,
2 * head_size]`` (K then V on the last dim, any physical layout); the backend works on
``[num_blocks, block_size, num_kv_heads, head_size]`` views of it. Prefill, decode,
mixed batches (chunked prefill), cached prefixes (prefix caching), GQA/MQA, sliding
window, logit soft-capping and the bidirectional image spans of multimodal prefix LMs go
through one code path; the kernels come from a
provider (see ``providers.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch
from vllm.config import VllmConfig
from vllm.v1.attention.backend import (
    AttentionBackend,
    AttentionImpl,
    AttentionLayer,
    AttentionMetadataBuilder,
    AttentionType,
    CommonAttentionMetadata,
    MultipleOf,
)
from vllm.v1.kv_cache_interface import AttentionSpec

from vllm_ipex_plugin.attention import BACKEND_NAME
from vllm_ipex_plugin.attention.providers import AttentionProvider, select_provider
from vllm_ipex_plugin.kernels.attention.batch import PagedBatch, mm_range_tensor
from vllm_ipex_plugin.kernels.common.device import device_facts
from vllm_ipex_plugin.log import get_logger

logger = get_logger(__name__)

MIN_BLOCK_SIZE = 8
MAX_BLOCK_SIZE = 128
PREFERRED_BLOCK_SIZE = 64


@dataclass
class IpexAttentionMetadata:
    num_actual_tokens: int
    max_query_len: int
    max_seq_len: int
    slot_mapping: torch.Tensor
    batch: PagedBatch
    # The step's bidirectional spans (``batch.mm_ranges``) under the name vLLM's own backends use:
    # Gemma4 sets it to None on its full-attention layers' metadata before they run
    # (``_clear_mm_prefix_for_full_attn_layers``), and those layers then attend causally.
    mm_prefix_range: torch.Tensor | None = None

    def batch_for_layer(self) -> PagedBatch:
        """``batch``, without its spans where the model cleared them for this layer's group."""
        if self.batch.mm_ranges is not None and self.mm_prefix_range is None:
            return dataclasses.replace(self.batch, mm_ranges=None)
        return self.batch


class IpexAttentionMetadataBuilder(AttentionMetadataBuilder[IpexAttentionMetadata]):
    def __init__(
        self,
        kv_cache_spec: AttentionSpec,
        layer_names: list[str],
        vllm_config: VllmConfig,
        device: torch.device,
    ):
        super().__init__(kv_cache_spec, layer_names, vllm_config, device)
        self.provider_name = select_provider(device_type=device.type).name
        model_config = vllm_config.model_config
        self.num_heads = model_config.get_num_attention_heads(vllm_config.parallel_config)
        # this group's layers (Gemma4's sliding and global layers differ in both)
        self.num_kv_heads = kv_cache_spec.num_kv_heads
        self.head_size = kv_cache_spec.head_size
        self.facts = device_facts(device)

    def build(
        self,
        common_prefix_len: int,
        common_attn_metadata: CommonAttentionMetadata,
        fast_build: bool = False,
    ) -> IpexAttentionMetadata:
        m = common_attn_metadata
        causal = m.causal if isinstance(m.causal, bool) else bool(m.causal.all())
        plan = None
        if self.provider_name in ("triton", "xpu_kernels"):  # one work split per step, shared by every layer
            from vllm_ipex_plugin.kernels.attention.plan import make_plan

            plan = make_plan(m.query_start_loc, m.num_reqs, m.max_query_len, self.num_heads, self.num_kv_heads,
                             seq_lens=m.seq_lens, facts=self.facts, head_size=self.head_size,
                             max_seq_len=m.max_seq_len)
        # Spans only change what a query sees of later keys; a step whose every request has one new
        # token (its last position) has none to see.
        spans = mm_range_tensor(m.mm_req_doc_ranges, m.num_reqs, self.device) if m.max_query_len > 1 else None
        return IpexAttentionMetadata(
            num_actual_tokens=m.num_actual_tokens,
            max_query_len=m.max_query_len,
            max_seq_len=m.max_seq_len,
            slot_mapping=m.slot_mapping,
            batch=PagedBatch(
                query_start_loc=m.query_start_loc,
                seq_lens=m.seq_lens,
                block_table=m.block_table_tensor,
                num_reqs=m.num_reqs,
                causal=causal,
                max_query_len=m.max_query_len,
                max_seq_len=m.max_seq_len,
                plan=plan,
                mm_ranges=spans,
            ),
            mm_prefix_range=spans,
        )


class IpexAttentionBackend(AttentionBackend):
    supported_dtypes: ClassVar[list[torch.dtype]] = [torch.float16, torch.bfloat16, torch.float32]
    supported_kv_cache_dtypes: ClassVar[list] = ["auto", "float16", "bfloat16"]
    forward_includes_kv_cache_update: bool = False

    @staticmethod
    def get_name() -> str:
        return BACKEND_NAME

    @staticmethod
    def get_impl_cls() -> type[IpexAttentionImpl]:
        return IpexAttentionImpl

    @staticmethod
    def get_builder_cls() -> type[IpexAttentionMetadataBuilder]:
        return IpexAttentionMetadataBuilder

    @staticmethod
    def get_supported_kernel_block_sizes(kv_cache_spec=None) -> list[int | MultipleOf]:
        return [MultipleOf(MIN_BLOCK_SIZE)]

    @classmethod
    def get_preferred_block_size(cls, default_block_size: int) -> int:
        """Without ``--block-size``: 64, the Triton kernels' KV tile (a block holding whole tiles
        is looked up once per tile, not per position: H100 8k prefill 362 vs 281 TFLOP/s)."""
        return PREFERRED_BLOCK_SIZE

    @classmethod
    def supports_block_size(cls, block_size: int | None) -> bool:
        if block_size is None:
            return True
        return MIN_BLOCK_SIZE <= block_size <= MAX_BLOCK_SIZE and block_size % 8 == 0

    @classmethod
    def supports_sliding_window(cls) -> bool:
        return True

    @classmethod
    def supports_mm_prefix(cls) -> bool:
        """Bidirectional spans of multimodal prefix LMs (Gemma3, PaliGemma): every provider."""
        return True

    @classmethod
    def supports_attn_type(cls, attn_type: str) -> bool:
        return attn_type == AttentionType.DECODER

    @classmethod
    def supports_compute_capability(cls, capability) -> bool:
        return True


class IpexAttentionImpl(AttentionImpl[IpexAttentionMetadata]):
    def __init__(
        self,
        num_heads: int,
        head_size: int,
        scale: float,
        num_kv_heads: int | None = None,
        alibi_slopes: list[float] | None = None,
        sliding_window: int | None = None,
        kv_cache_dtype: str = "auto",
        logits_soft_cap: float | None = None,
        attn_type: str = AttentionType.DECODER,
        kv_sharing_target_layer_name: str | None = None,
        sinks: torch.Tensor | None = None,
        **unused: object,
    ) -> None:
        if alibi_slopes is not None:
            raise NotImplementedError(
                f"{BACKEND_NAME}: ALiBi attention is not supported yet; this model cannot "
                "run on vllm_ipex_plugin."
            )
        if sinks is not None:
            raise NotImplementedError(f"{BACKEND_NAME}: attention sinks are not supported yet.")
        if attn_type != AttentionType.DECODER:
            raise NotImplementedError(
                f"{BACKEND_NAME}: only decoder attention is supported (got {attn_type})."
            )
        if kv_cache_dtype not in ("auto", "float16", "bfloat16"):
            raise NotImplementedError(
                f"{BACKEND_NAME}: --kv-cache-dtype {kv_cache_dtype} is not supported; "
                "use auto."
            )
        self.num_heads = num_heads
        self.head_size = head_size
        self.scale = float(scale)
        self.num_kv_heads = num_kv_heads or num_heads
        self.sliding_window = sliding_window
        self.logits_soft_cap = logits_soft_cap or None
        self.kv_sharing_target_layer_name = kv_sharing_target_layer_name
        from vllm.config import get_current_vllm_config_or_none

        config = get_current_vllm_config_or_none()
        device_type = config.device_config.device_type if config is not None else "cpu"
        self.provider: AttentionProvider = select_provider(device_type=device_type)
        logger.info_once(
            "vllm_ipex_plugin: attention backend %s with the %s kernel provider",
            BACKEND_NAME,
            self.provider.name,
        )

    def _split_cache(self, kv_cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # [B, H, N, 2D] -> two [B, N, H, D] views.
        key_cache, value_cache = kv_cache.transpose(1, 2).split(self.head_size, dim=-1)
        return key_cache, value_cache

    def do_kv_cache_update(
        self,
        layer: AttentionLayer,
        key: torch.Tensor,
        value: torch.Tensor,
        kv_cache: torch.Tensor,
        slot_mapping: torch.Tensor,
    ) -> None:
        key_cache, value_cache = self._split_cache(kv_cache)
        self.provider.write_kv(key, value, key_cache, value_cache, slot_mapping)

    def forward(
        self,
        layer: AttentionLayer,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        kv_cache: torch.Tensor,
        attn_metadata: IpexAttentionMetadata,
        output: torch.Tensor,
        output_scale: torch.Tensor | None = None,
        output_block_scale: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if output_scale is not None or output_block_scale is not None:
            raise NotImplementedError(f"{BACKEND_NAME}: fused output quantization is not supported.")
        if attn_metadata is None:  # profiling run
            return output.fill_(0)
        n = attn_metadata.num_actual_tokens
        key_cache, value_cache = self._split_cache(kv_cache)
        out = output[:n].view(n, self.num_heads, self.head_size)
        new_kv = None
        if key is not None and value is not None:  # absent on layers that share another's KV
            new_kv = tuple(t[:n].reshape(n, self.num_kv_heads, self.head_size) for t in (key, value))
        self.provider.attend(
            query[:n].view(n, self.num_heads, self.head_size),
            key_cache,
            value_cache,
            attn_metadata.batch_for_layer(),
            self.scale,
            out,
            self.sliding_window,
            self.logits_soft_cap,
            new_kv,
            # Gemma4's sliding layers: image spans stay inside the window (vLLM's Triton backend
            # reads the same layer attribute)
            clamp_spans=bool(self.sliding_window) and bool(getattr(layer, "mm_prefix_clamp_sliding_window", False)),
        )
        return output
