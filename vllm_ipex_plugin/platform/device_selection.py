"""Which Intel GPUs a run may use, checked before any worker starts.

vLLM places rank ``i`` of a host on visible card ``i``; with more ranks than visible cards
the extra workers fail deep in Level Zero or oneCCL (or wait for a peer that never comes).
The plugin refuses that at configuration time with one line naming both numbers and where
the visible count came from (``--device-ids``, ``ZE_AFFINITY_MASK``, or the cards torch
sees).

Host mode has no cards; it counts the entries of ``ZE_AFFINITY_MASK`` (or ``--device-ids``)
when the user gave one, so the same check and message run in CI. Without either, host mode
places any number of ranks on the CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

AFFINITY_MASK = "ZE_AFFINITY_MASK"


@dataclass(frozen=True)
class VisibleCards:
    count: int
    source: str  # what the count came from, as the user would write it


def affinity_mask_entries(mask: str) -> list[str]:
    """The devices a ``ZE_AFFINITY_MASK`` value exposes: ``"0,1"`` or sub-devices ``"0.0,0.1"``.

    Each comma-separated entry is one device to the runtime (a sub-device is a card of its own)."""
    return [entry.strip() for entry in mask.split(",") if entry.strip()]


def visible_cards(host_mode: bool, assigned_ids: list[int] | None, xpu_count: int | None = None) -> VisibleCards | None:
    """How many cards this host's ranks may use, or None when host mode places them freely.

    ``assigned_ids`` is vLLM's resolution of ``--device-ids``; ``xpu_count`` is
    ``torch.xpu.device_count()`` (which already honours the affinity mask) on XPU."""
    if assigned_ids:
        return VisibleCards(len(assigned_ids), f"--device-ids {','.join(map(str, assigned_ids))}")
    mask = os.environ.get(AFFINITY_MASK)
    if mask is not None and mask.strip():
        entries = affinity_mask_entries(mask)
        count = len(entries) if host_mode else (xpu_count if xpu_count is not None else len(entries))
        return VisibleCards(count, f"{AFFINITY_MASK}={mask.strip()}")
    if host_mode:
        return None
    return VisibleCards(xpu_count or 0, "torch.xpu.device_count()")


def ranks_on_this_host(parallel_config) -> tuple[int, str]:
    """(number of worker ranks this host starts, how that number is made, in vLLM's flag names)."""
    tp, pp = parallel_config.tensor_parallel_size, parallel_config.pipeline_parallel_size
    ranks = parallel_config.local_world_size
    dp_local = max(getattr(parallel_config, "data_parallel_size_local", 1), 1)
    how = f"tensor_parallel_size {tp} x pipeline_parallel_size {pp}"
    if dp_local > 1:
        how += f" x data_parallel_size_local {dp_local}"
    if parallel_config.nnodes > 1:
        how += f" / nnodes {parallel_config.nnodes}"
    return ranks * dp_local, how


def check_ranks_fit(parallel_config, cards: VisibleCards | None) -> None:
    """Raise ``ValueError`` with one line when this host's ranks outnumber its visible cards."""
    if cards is None:
        return
    ranks, how = ranks_on_this_host(parallel_config)
    if ranks <= cards.count:
        return
    card_word = "Intel GPU is" if cards.count == 1 else "Intel GPUs are"
    raise ValueError(
        f"{how} = {ranks} ranks on this host, but {cards.count} {card_word} visible ({cards.source}); "
        f"lower the parallel sizes or make more cards visible."
    )
