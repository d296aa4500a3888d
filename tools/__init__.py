"""Developer tools of the project that are not part of the installed plugin.

``intel_compile``: compiles the plugin's Triton kernels for Intel GPUs (PVC, BMG, DG2) on a machine without
one, through Intel's own toolchain, and reports builds, register spills and instruction use per kernel.
"""
