"""Tests of vllm_ipex_plugin.attention: provider choice and the backend's impl at layer level."""
