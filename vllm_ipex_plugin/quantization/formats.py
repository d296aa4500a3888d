"""Placeholder; replaced below."""
FORMAT_NAMES = {"sym_int4", "asym_int4", "fp6", "fp8", "fp8_e5m2", "fp8_e4m3", "fp16", "bf16", "sym_int8", "nf4", "woq_int4"}
