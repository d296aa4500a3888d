"""More ranks than visible cards is refused before a worker starts, with both numbers named."""

from __future__ import annotations

import pytest
from vllm.config import ParallelConfig

from vllm_ipex_plugin.platform.device_selection import (
    AFFINITY_MASK,
    affinity_mask_entries,
    check_ranks_fit,
    visible_cards,
)


@pytest.mark.parametrize(
    ("mask", "entries"),
    [("0", ["0"]), ("0,1", ["0", "1"]), ("0.0, 0.1,1", ["0.0", "0.1", "1"]), ("2,", ["2"])],
)
def test_affinity_mask_entries(mask, entries):
    assert affinity_mask_entries(mask) == entries


def test_four_ranks_on_two_cards_names_both_numbers_and_the_mask(monkeypatch):
    monkeypatch.setenv(AFFINITY_MASK, "0,1")
    config = ParallelConfig(tensor_parallel_size=2, pipeline_parallel_size=2)
    with pytest.raises(ValueError) as err:
        check_ranks_fit(config, visible_cards(False, None, xpu_count=2))
    assert str(err.value) == (
        "tensor_parallel_size 2 x pipeline_parallel_size 2 = 4 ranks on this host, but 2 Intel GPUs are "
        "visible (ZE_AFFINITY_MASK=0,1); lower the parallel sizes or make more cards visible."
    )


def test_device_ids_count_before_the_mask(monkeypatch):
    monkeypatch.setenv(AFFINITY_MASK, "0,1,2,3")
    config = ParallelConfig(tensor_parallel_size=2)
    with pytest.raises(ValueError, match=r"= 2 ranks on this host, but 1 Intel GPU is visible \(--device-ids 3\)"):
        check_ranks_fit(config, visible_cards(False, [3], xpu_count=4))
    check_ranks_fit(config, visible_cards(False, [1, 3], xpu_count=4))


def test_without_a_mask_xpu_counts_torch_devices_and_host_mode_places_freely(monkeypatch):
    monkeypatch.delenv(AFFINITY_MASK, raising=False)
    config = ParallelConfig(tensor_parallel_size=2)
    with pytest.raises(ValueError, match=r"but 0 Intel GPUs are visible \(torch.xpu.device_count\(\)\)"):
        check_ranks_fit(config, visible_cards(False, None, xpu_count=0))
    assert visible_cards(True, None) is None
    check_ranks_fit(config, visible_cards(True, None))


def test_host_mode_counts_mask_entries(monkeypatch):
    monkeypatch.setenv(AFFINITY_MASK, "0.0,0.1")
    assert visible_cards(True, None).count == 2
    check_ranks_fit(ParallelConfig(tensor_parallel_size=2), visible_cards(True, None))
