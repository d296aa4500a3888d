"""Workers and model runners: vLLM's GPU worker / runner reused, as vLLM's XPU and CPU backends do."""
