"""MiniCPM-V 2.6's image processor, the tests' own minimal copy of the class its checkpoints ship
as remote code (``preprocessor_config.json``: ``auto_map.AutoImageProcessor`` ->
``image_processing_minicpmv.MiniCPMVImageProcessor``). transformers ships no image processor for
``model_type`` "minicpmv"; vLLM vendors the processor (``MiniCPMVProcessor``) but resolves this
class from the checkpoint folder (``get_class_from_dynamic_module``), so a checkpoint needs it.
The tiny test checkpoints carry it (``tests/harness/minicpmv_model.py``), loaded with
``trust_remote_code=True`` from the checkpoint folder only.

Only what vLLM's ``minicpmv.py`` and its vendored processor call for images is here (the same
for versions 2.6 and 4.5; no video), following MiniCPM-V 2.6's algorithm (LLaVA-UHD slicing):

- ``get_sliced_grid``: the ``(cols, rows)`` grid an image is cut into, ``None`` for an image no
  larger than ``scale_resolution``² pixels; vLLM sizes each image's placeholder from it:
  ``(cols * rows + 1) * image_feature_size`` embedding tokens (the whole image, then each slice).
- ``get_slice_image_placeholder``: the text of those tokens, ``<image_id>i</image_id>`` +
  ``<image>`` + ``<unk>`` x ``image_feature_size`` + ``</image>``, then one
  ``<slice>...</slice>`` per slice, rows joined by newlines; vLLM's embedding positions are the
  ``<unk>`` tokens.
- ``preprocess``: per image the resized whole image and its slices, each normalised and laid out
  patch by patch (``[3, patch_size, n_patches * patch_size]``, what the vision tower's
  patch convolution reads), with ``tgt_sizes`` (patch rows, patch columns per slice) and
  ``image_sizes`` (``(width, height)`` of the original image).

Self-contained (PIL, NumPy, torch): transformers copies only this file into its module cache.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature


class MiniCPMVImageProcessor(BaseImageProcessor):
    model_input_names = ["pixel_values"]

    def __init__(self, max_slice_nums: int = 9, scale_resolution: int = 448, patch_size: int = 14,
                 image_feature_size: int = 64, use_image_id: bool = True, slice_mode: bool = True,
                 im_start: str = "<image>", im_end: str = "</image>", slice_start: str = "<slice>",
                 slice_end: str = "</slice>", unk: str = "<unk>", im_id_start: str = "<image_id>",
                 im_id_end: str = "</image_id>", norm_mean: tuple[float, ...] = (0.5, 0.5, 0.5),
                 norm_std: tuple[float, ...] = (0.5, 0.5, 0.5), version: float = 2.6, **kwargs) -> None:
        for key in ("auto_map", "image_processor_type"):
            kwargs.pop(key, None)
        super().__init__(**kwargs)
        self.max_slice_nums = max_slice_nums
        self.scale_resolution = scale_resolution
        self.patch_size = patch_size
        self.image_feature_size = image_feature_size
        self.use_image_id = use_image_id
        self.slice_mode = slice_mode
        # the attribute names vLLM reads (im_id_start / im_id_end: when re-numbering a cached image)
        self.im_start_token, self.im_end_token = im_start, im_end
        self.slice_start_token, self.slice_end_token = slice_start, slice_end
        self.unk_token = unk
        self.im_id_start, self.im_id_end = im_id_start, im_id_end
        self.mean, self.std = list(norm_mean), list(norm_std)
        self.version = version

    # -- the slicing grid (what vLLM sizes placeholders by) --------------------------------------

    def get_sliced_grid(self, image_size, max_slice_nums: int | None = None,
                        never_split: bool = False) -> list[int] | None:
        """``[cols, rows]`` of the slices of an image of ``image_size`` ``(width, height)``: the
        grid of ``n - 1``, ``n`` or ``n + 1`` slices (``n``: the image's area in
        ``scale_resolution``² units, at most ``max_slice_nums``) whose aspect ratio is closest
        to the image's in log scale; ``None`` when ``n <= 1`` (the image is not sliced)."""
        width, height = (int(v) for v in image_size)
        max_slice_nums = self.max_slice_nums if max_slice_nums is None else int(max_slice_nums)
        log_ratio = math.log(width / height)
        multiple = min(math.ceil(width * height / self.scale_resolution ** 2), max_slice_nums)
        if multiple <= 1 or never_split:
            return None
        counts = [n for n in (multiple - 1, multiple, multiple + 1) if n != 1 and n <= max_slice_nums]
        grids = [[m, n // m] for n in counts for m in range(1, n + 1) if n % m == 0]
        return min(grids, key=lambda grid: abs(log_ratio - math.log(grid[0] / grid[1])))

    def get_slice_image_placeholder(self, image_size, image_idx: int = 0, max_slice_nums: int | None = None,
                                    use_image_id: bool | None = None) -> str:
        """The prompt text of one image: its id, the whole image's ``<unk>`` run, then the slices'."""
        unks = self.unk_token * self.image_feature_size
        text = self.im_start_token + unks + self.im_end_token
        if self.use_image_id if use_image_id is None else use_image_id:
            text = f"{self.im_id_start}{image_idx}{self.im_id_end}" + text
        grid = self.get_sliced_grid(image_size, max_slice_nums)
        if self.slice_mode and grid is not None:
            cols, rows = grid
            row = (self.slice_start_token + unks + self.slice_end_token) * cols
            text += "\n".join([row] * rows)
        return text

    # -- resizing and slicing the pixels -----------------------------------------------------------

    def _ensure_divide(self, length: float, divisor: int) -> int:
        return max(round(length / divisor) * divisor, divisor)

    def _find_best_resize(self, size: tuple[float, float], allow_upscale: bool = False) -> tuple[int, int]:
        """``size`` scaled to about ``scale_resolution``² pixels (only down, unless ``allow_upscale``),
        aspect ratio kept, each side a multiple of ``patch_size``."""
        width, height = size
        if width * height > self.scale_resolution ** 2 or allow_upscale:
            ratio = width / height
            height = int(self.scale_resolution / math.sqrt(ratio))
            width = int(height * ratio)
        return self._ensure_divide(width, self.patch_size), self._ensure_divide(height, self.patch_size)

    def _slices(self, image: Image.Image, max_slice_nums: int | None) -> list[Image.Image]:
        """The whole image resized, then (for a sliced image) the slices of a resized copy, row by row."""
        grid = self.get_sliced_grid(image.size, max_slice_nums) if self.slice_mode else None
        if grid is None:
            return [image.resize(self._find_best_resize(image.size, allow_upscale=True), Image.Resampling.BICUBIC)]
        source = image.resize(self._find_best_resize(image.size), Image.Resampling.BICUBIC)
        cols, rows = grid
        slice_w, slice_h = self._find_best_resize((self._ensure_divide(image.size[0], cols) / cols,
                                                   self._ensure_divide(image.size[1], rows) / rows),
                                                  allow_upscale=True)
        refined = image.resize((slice_w * cols, slice_h * rows), Image.Resampling.BICUBIC)
        return [source] + [refined.crop((c * slice_w, r * slice_h, (c + 1) * slice_w, (r + 1) * slice_h))
                           for r in range(rows) for c in range(cols)]

    def _to_patches(self, image: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
        """``([3, patch_size, n_patches * patch_size], [patch rows, patch columns])`` of one slice,
        normalised; patches in row-major order, side by side."""
        pixels = np.asarray(image, dtype=np.float32) / 255.0
        pixels = (pixels - np.asarray(self.mean, dtype=np.float32)) / np.asarray(self.std, dtype=np.float32)
        chw = torch.from_numpy(pixels).permute(2, 0, 1).contiguous()
        p = self.patch_size
        patches = torch.nn.functional.unfold(chw, (p, p), stride=(p, p))  # [3 * p * p, n]
        patches = patches.reshape(3, p, p, -1).permute(0, 1, 3, 2).reshape(3, p, -1)
        return patches, torch.tensor([chw.shape[1] // p, chw.shape[2] // p])

    def preprocess(self, images, do_pad: bool = True, max_slice_nums: int | None = None,
                   return_tensors=None, **kwargs) -> BatchFeature:
        """``images``: one image, a list of images (one prompt) or a list of lists (one per prompt).
        Per prompt: ``pixel_values`` (a list of slices), ``image_sizes`` (a ``[width, height]``
        tensor per image), ``tgt_sizes`` (a ``[slices, 2]`` tensor). ``do_pad`` and
        ``return_tensors`` are accepted for the processor's call; the values are tensors already."""
        if isinstance(images, Image.Image):
            images = [[images]]
        elif images and isinstance(images[0], Image.Image):
            images = [images]
        pixel_values, image_sizes, tgt_sizes = [], [], []
        for prompt_images in images:
            prompt_images = [im.convert("RGB") for im in prompt_images]
            slices = [self._to_patches(s) for im in prompt_images for s in self._slices(im, max_slice_nums)]
            pixel_values.append([pixels for pixels, _ in slices])
            image_sizes.append([torch.tensor(im.size) for im in prompt_images])
            tgt_sizes.append(torch.stack([size for _, size in slices]) if slices else torch.zeros(0, 2,
                                                                                                  dtype=torch.long))
        return BatchFeature(data={"pixel_values": pixel_values, "image_sizes": image_sizes, "tgt_sizes": tgt_sizes})

    def __call__(self, images, **kwargs) -> BatchFeature:
        return self.preprocess(images, **kwargs)
