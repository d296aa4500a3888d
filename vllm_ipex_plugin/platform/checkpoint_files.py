"""A truncated or corrupt safetensors file is refused at start-up with one line that names it.

Left to the loader, such a file fails in the worker process, after the engine has started,
as a long traceback whose cause is printed far from its end. Every safetensors file's
header is self-describing (an 8-byte length, a JSON table of tensors with byte offsets), so
reading the headers, not the tensors, is enough to tell that a file is cut short or its
header is damaged. Damage inside the tensor bytes is not detectable this way (the format
has no checksum).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the header's size


class CheckpointFileError(ValueError):
    """A checkpoint file that cannot be loaded as it is."""


def check_safetensors_file(path: Path) -> None:
    """Raise ``CheckpointFileError`` if ``path`` is not a complete safetensors file."""
    size = path.stat().st_size
    redownload = "re-download or re-save it"
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointFileError(f"{path}: {size} bytes, too short for a safetensors file; {redownload}")
        (header_len,) = struct.unpack("<Q", head)
        if header_len > _MAX_HEADER or 8 + header_len > size:
            raise CheckpointFileError(f"{path}: truncated or not a safetensors file (header of {header_len} bytes "
                                      f"in a file of {size}); {redownload}")
        try:
            header = json.loads(f.read(header_len))
        except (UnicodeDecodeError, ValueError):
            raise CheckpointFileError(f"{path}: the safetensors header is not valid JSON (corrupt file); "
                                      f"{redownload}") from None
    if not isinstance(header, dict):
        raise CheckpointFileError(f"{path}: the safetensors header is not a table of tensors; {redownload}")
    ends = [entry["data_offsets"][1] for name, entry in header.items()
            if name != "__metadata__" and isinstance(entry, dict) and "data_offsets" in entry]
    need = 8 + header_len + max(ends, default=0)
    if size < need:
        raise CheckpointFileError(f"{path}: truncated ({size} bytes, its header needs {need}); {redownload}")


def check_checkpoint_folder(model: str) -> None:
    """Check every safetensors file of a local model folder (a hub name is left to vLLM)."""
    folder = Path(model)
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.safetensors")):
        check_safetensors_file(path)
