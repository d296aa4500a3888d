"""The XPU platform (and host mode). Imported by vLLM through a qualname only."""
