"""Tests of tools/intel_compile: parsers of ocloc output, and a real offline compile for Intel GPUs."""
