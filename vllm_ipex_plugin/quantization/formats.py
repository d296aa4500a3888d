"""Format names for the CLI and the quantization config (defined in the kernels layer)."""

from vllm_ipex_plugin.kernels.lowbit.formats import (  # noqa: F401
    ALIASES,
    DEFAULT_FORMAT,
    FORMAT_NAMES,
    FORMATS,
    canonical_name,
    get_format,
)
