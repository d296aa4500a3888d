"""Safetensors headers checked before the engine starts: each damage gets its own one-line message."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from vllm_ipex_plugin.platform.checkpoint_files import CheckpointFileError, check_checkpoint_folder


@pytest.fixture
def folder(tmp_path):
    save_file({"a": torch.randn(64, 64), "b": torch.randn(128)}, str(tmp_path / "model.safetensors"))
    return tmp_path


def _cut(path, keep: int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:keep])


def test_a_complete_file_passes(folder):
    check_checkpoint_folder(str(folder))


def test_a_hub_name_is_left_to_vllm():
    check_checkpoint_folder("HuggingFaceTB/SmolLM2-135M-Instruct")


@pytest.mark.parametrize("keep,message", [
    (5, r"model\.safetensors: 5 bytes, too short for a safetensors file; re-download or re-save it"),
    (40, r"model\.safetensors: truncated or not a safetensors file \(header of \d+ bytes in a file of 40\)"),
    (-100, r"model\.safetensors: truncated \(\d+ bytes, its header needs \d+\); re-download or re-save it"),
])
def test_truncated_files_are_named(folder, keep, message):
    path = folder / "model.safetensors"
    _cut(path, keep if keep > 0 else path.stat().st_size + keep)
    with pytest.raises(CheckpointFileError, match=message):
        check_checkpoint_folder(str(folder))


def test_a_damaged_header_is_named(folder):
    path = folder / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[8:12] = b"\xff\xfe\x00{"
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointFileError, match=r"model\.safetensors: the safetensors header is not valid JSON"):
        check_checkpoint_folder(str(folder))
