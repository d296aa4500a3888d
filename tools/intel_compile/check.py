"""The budget the Intel compile check holds the plugin's launches to.

Spills go to memory: on a bandwidth-bound kernel they eat the bandwidth the low-bit formats
exist to save. PVC and BMG (Xe-HPC, Xe2; 256-register mode available) must not spill at
all; DG2 (Arc A-series) has half the register file per lane at its default width, so a
small spill is tolerated there. A launch that does not build, or builds with undefined
imports (a binary that would fail to load), fails on every arch.
"""

from __future__ import annotations

SPILL_BUDGET: dict[str, int] = {"pvc": 0, "bmg": 0, "dg2": 8192}
