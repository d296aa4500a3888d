"""Offline Intel GPU compile check for the plugin's Triton kernels.

No Intel GPU is needed: Intel's Triton (triton-xpu) lowers a kernel to SPIR-V and Intel's offline compiler
(ocloc) builds the native binary for Data Center Max 1550 (``pvc``), Arc B580 (``bmg``) or Arc A770
(``dg2``). That is the nearest this project's machines get to running on the card: a kernel that does not
build, spills registers, misses DPAS or 2D block IO, or leaves undefined imports, shows up here.

- ``toolchain.sh CACHE_DIR``: installs triton-xpu (apart from the project's Triton) and ocloc.
- ``driver.py``: compiles one case in its own process and prints one JSON result.
- ``runner``: runs many cases in parallel with timeouts, caches results, ``check`` and ``format_table``.
"""
