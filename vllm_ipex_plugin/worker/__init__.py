"""Workers and model runners: vLLM's GPU worker / runner reused, as vLLM's XPU and CPU backends do.

Holds the XPU worker (vLLM's GPU ``Worker`` with an XPU ``init_device``), the host-mode worker
(vLLM's CPU worker) and the XPU model runners. May import vLLM, torch, ``compat`` (every touch
of a vLLM / torch internal: the ``torch.cuda`` -> ``torch.xpu`` alias, the worker's private
hooks), ``envs``, ``log`` and the layers below (attention, quantization, distributed, kernels);
never ``platform``.
"""
