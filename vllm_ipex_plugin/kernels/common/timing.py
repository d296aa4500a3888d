"""Timing on the GPU the way the benchmarks and the tuner need it.

Small kernels run for less time than Python takes to launch them, and a weight that stays
in the last-level cache reads faster than one that streams from memory: both would flatter
a kernel. These helpers replay a rotation of calls over enough weight copies in one graph.
"""

from __future__ import annotations

import statistics

import torch


def weight_copies(tensors: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """Enough copies of a weight that cycling through them overflows the last-level cache."""
    nbytes = sum(t.numel() * t.element_size() for t in tensors.values())
    cache = 50 * 2**20
    if tensors and next(iter(tensors.values())).device.type == "cuda":
        cache = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", cache)
    count = max(2, min(32, -(-3 * cache // max(nbytes, 1))))
    return [tensors] + [{name: t.clone() for name, t in tensors.items()} for _ in range(count - 1)]


def graph_time(fns, reps: int = 20) -> float:
    """Median seconds per call of ``fns`` (a rotation) replayed in one CUDA graph.

    Small kernels run for less time than Python takes to launch them, so timing them one
    launch at a time measures the launcher; a graph replays the rotation back to back.
    """
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for f in fns:
            f()
    torch.cuda.current_stream().wait_stream(stream)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for f in fns:
            f()
    for _ in range(3):
        graph.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3 / len(fns))
    return statistics.median(times)


def copy_bandwidth(nbytes: int = 2 * 2**30, reps: int = 10) -> float:
    """Bytes per second (read + write) of a device-to-device copy of ``nbytes`` on the current
    CUDA device, measured now: the bandwidth floor of a run is taken from the card as found,
    not from a datasheet or an earlier run."""
    src = torch.empty(nbytes // 2, dtype=torch.uint8, device="cuda").random_()
    dst = torch.empty_like(src)
    dst.copy_(src)
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        dst.copy_(src)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    del src, dst
    return nbytes / statistics.median(times)
