"""The XPU platform (and host mode). Imported by vLLM through a qualname only.

Holds the ``Platform`` classes, the pure device rules (platform choice, dtypes, host CPU check)
and IPEX-LLM's command-line flags. The top layer: may import every other room of the package
(workers are named by qualname, not imported); vLLM / torch internals only through ``compat``.
"""
