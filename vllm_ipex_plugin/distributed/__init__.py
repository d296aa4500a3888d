"""Device communicator for tensor and pipeline parallelism (oneCCL via torch's xccl; gloo in host mode).

May import vLLM, torch, ``compat`` (vLLM's ``XpuCommunicator`` base class), ``envs``, ``log``
and ``kernels``; never ``platform``, ``worker``, ``attention`` or ``quantization``.
"""
