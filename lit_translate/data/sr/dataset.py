"""Super-resolution datasets: HR images, LR made by bicubic reduction (or pre-made), aligned random crops.

Training item ``i`` of epoch ``e`` (BasicSR ``PairedImageDataset`` + ``paired_random_crop`` + ``augment``): the HR
image is cropped at the bottom/right to a multiple of ``scale``; a random LR patch of ``gt_size / scale`` pixels is
chosen on the LR grid and the HR patch is the ``gt_size`` pixels above it (so LR pixel ``(y, x)`` covers HR pixels
``[s y, s y + s) x [s x, s x + s)``); then a horizontal flip, a vertical flip and a transpose (a 90 degree rotation
with the flips), each with probability 1/2, are applied to both patches. All draws come from a generator seeded
with ``sample_seed(seed, e, i)``.

LR made on the fly (no pre-made LR folder) are exactly the patches of the whole reduced image: the HR region under
the patch plus 3 LR pixels of context on each side (clipped at the image border, where the resampler's own border
rule applies) is reduced and the context cut off; both resamplers' kernels reach 2 LR pixels.

Evaluation items are whole images: HR cropped to a multiple of ``mod_crop`` (BasicSR ``mod_crop``, top-left kept),
LR = the reduced HR (or the pre-made LR file, whose size must then be exactly HR / scale).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from lit_translate.choices import resolve_choice
from lit_translate.data.io import check_channels, convert_channels, load_image, read_problem
from lit_translate.data.resize import RESAMPLERS
from lit_translate.data.sampling import SharedEpoch, sample_seed
from lit_translate.data.scan import ImageHeader
from lit_translate.data.sr.synthetic import SyntheticHR
from lit_translate.data.transforms import to_tensor
from lit_translate.errors import InputError

CONTEXT = 3
"""LR pixels of context reduced around an on-the-fly training patch (the kernels reach 2)."""

Pair = tuple[Path, Path | None]
"""``(HR file, pre-made LR file or None)``."""

log = logging.getLogger(__name__)


def image_size(path: Path) -> tuple[int, int]:
    """Return ``(width, height)`` of an image file from its header (the pixels are not decoded).

    Raises:
        InputError: The file cannot be opened as an image; the message names it.
    """
    try:
        with Image.open(path) as img:
            return img.size
    except (OSError, SyntaxError, ValueError) as err:
        raise InputError(f"cannot read image {path}: {read_problem(path, err)}. Remove or replace the file") from err


def image_sizes(paths: Sequence[Path]) -> list[tuple[int, int]]:
    """Return ``(width, height)`` of each file (headers read in threads)."""
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return list(pool.map(image_size, paths))


def modded(size: tuple[int, int], mod: int) -> tuple[int, int]:
    """Return ``(width, height)`` cropped down to multiples of ``mod``."""
    return size[0] - size[0] % mod, size[1] - size[1] % mod


class SRDataset(Dataset):
    """HR images and their LR versions as batch-contract items ``{"A": LR, "B": HR, "A_path", "B_path"}``.

    With ``gt_size`` (training): aligned random ``gt_size`` HR / ``gt_size / scale`` LR patches, flips and
    rotations (module docstring). Without (evaluation): whole images, HR cropped to a multiple of ``mod_crop``.
    ``"A"`` is ``(C, h, w)``, ``"B"`` ``(C, scale h, scale w)``, float32 in [-1, 1]; ``"A_path"`` is the pre-made
    LR file, else the HR file (the LR is made from it).

    Sizes are read from the file headers when the dataset is built, so the errors below come before training.

    Args:
        source: The HR images: ``(HR path, pre-made LR path or None)`` pairs, or a :class:`SyntheticHR`.
        scale: The SR factor, >= 1.
        gt_size: HR patch side for training, a multiple of ``scale``; None for whole-image evaluation.
            Default None.
        flip: Random horizontal flips (training). Default True.
        rotate: Random vertical flips and transposes (training; BasicSR ``use_rot``). Default True.
        resampler: How LR images are made: ``"matlab"`` (MATLAB ``imresize`` bicubic) or ``"pil"``
            (see :mod:`lit_translate.data.resize`). Default ``"matlab"``.
        mod_crop: Evaluation HR images are cropped to multiples of this (a multiple of ``scale``); None = ``scale``.
            Default None.
        channels: 1 or 3. Default 3.
        seed: Augmentation seed, >= 0. Default 0.
        epoch_counter: Shared epoch read in ``__getitem__``. Default None (epoch 0).
        hint: Appended to read errors (e.g. the skip option). Default ``""``.
        cache: Keep every decoded image in memory after its first load (in each DataLoader worker): for small
            training sets whose images are re-read many times (80 photos of 1024 px: ~190 MB per process).
            Default False.
        check: Check the sizes now (:meth:`check_sizes`). Default True; the DataModule passes False and checks
            them after the set-up scan, which lists every bad file (unreadable or of a wrong size) at once.

    Raises:
        InputError: Bad options; an HR image smaller than ``gt_size`` (after the crop to a multiple of ``scale``);
            a pre-made LR image whose size is not exactly the (cropped) HR size / ``scale``; an unreadable header.
    """

    def __init__(
        self,
        source: Sequence[Pair] | SyntheticHR,
        scale: int,
        gt_size: int | None = None,
        flip: bool = True,
        rotate: bool = True,
        resampler: str = "matlab",
        mod_crop: int | None = None,
        channels: int = 3,
        seed: int = 0,
        epoch_counter: SharedEpoch | None = None,
        hint: str = "",
        cache: bool = False,
        check: bool = True,
    ) -> None:
        check_channels(channels, "channels")
        check_sr_sizes(scale, gt_size, mod_crop)
        self.reduce = resolve_choice("resampler", resampler, RESAMPLERS)
        self.source, self.scale, self.gt_size = source, scale, gt_size
        self.flip, self.rotate, self.channels = flip, rotate, channels
        self.mod = scale if gt_size is not None or mod_crop is None else mod_crop
        self.seed, self.epoch_counter, self.hint = seed, epoch_counter, hint
        self.cache: dict[int, tuple[np.ndarray, np.ndarray | None]] | None = {} if cache else None
        self.skipped: list[tuple[Path, str]] = []
        self.sizes = self.check_sizes() if check else []

    # ----------------------------------------------------------------------------------------------- checks
    def check_sizes(self) -> list[tuple[int, int]]:
        """Check every image's size (file headers); return the HR ``(width, height)`` after the mod-crop."""
        if isinstance(self.source, SyntheticHR):
            side = self.source.canvas - self.source.canvas % self.mod
            if self.gt_size is not None and side < self.gt_size:
                raise InputError(
                    f"the synthetic HR images are {side} px, smaller than --data.gt_size {self.gt_size}; raise "
                    f"--data.synthetic_canvas to at least {self.gt_size}"
                )
            return [(side, side)] * len(self.source)
        hr_sizes = image_sizes([hr for hr, _ in self.source])
        for (hr, _), size in zip(self.source, hr_sizes):
            problem = self.patch_problem(size)
            if problem:
                raise InputError(f"HR image {hr} is {problem}")
        lr_pairs = [(pair, size) for pair, size in zip(self.source, hr_sizes) if pair[1] is not None]
        for ((hr, lr), size), lr_size in zip(lr_pairs, image_sizes([pair[1] for pair, _ in lr_pairs])):
            problem = self.lr_problem(size, lr_size)
            if problem:
                raise InputError(f"pre-made LR image {lr} is {problem} (HR image {hr})")
        self._note_crops(hr_sizes)
        return [modded(size, self.mod) for size in hr_sizes]

    def patch_problem(self, size: tuple[int, int]) -> str | None:
        """Say why an HR image of ``size`` (width, height) is too small for the training patch, or None."""
        width, height = modded(size, self.scale)
        if self.gt_size is None or min(width, height) >= self.gt_size:
            return None
        return (
            f"{size[0]}x{size[1]} ({width}x{height} after cropping to a multiple of scale {self.scale}), smaller "
            f"than the training patch --data.gt_size {self.gt_size}; lower gt_size or remove the image"
        )

    def lr_problem(self, size: tuple[int, int], lr_size: tuple[int, int]) -> str | None:
        """Say why a pre-made LR image of ``lr_size`` does not fit its HR image of ``size``, or None."""
        width, height = modded(size, self.mod)
        expected = (width // self.scale, height // self.scale)
        if lr_size == expected:
            return None
        return (
            f"{lr_size[0]}x{lr_size[1]}, expected exactly {expected[0]}x{expected[1]}: its HR image ({size[0]}x"
            f"{size[1]}, cropped to {width}x{height}, a multiple of {self.mod}) divided by scale {self.scale}. "
            f"Check --data.scale, --data.mod_crop and the LR folder"
        )

    def header_problem(self, headers: tuple[ImageHeader, ...]) -> str | None:
        """Check the sizes of one ``(HR[, pre-made LR])`` unit for the set-up scan (``ScanRequest.size_problem``)."""
        size = (headers[0].width, headers[0].height)
        problem = self.patch_problem(size)
        if problem is None and len(headers) > 1:
            lr = self.lr_problem(size, (headers[1].width, headers[1].height))
            problem = None if lr is None else f"its pre-made LR image is {lr}"
        return problem

    def keep(self, indices: list[int], skipped: list[tuple[Path, str]]) -> None:
        """Keep only the images ``indices`` (the set-up scan's ``skip_unreadable``); ``skipped`` lists the bad files."""
        assert not isinstance(self.source, SyntheticHR)
        self.source, self.skipped = [self.source[i] for i in indices], skipped

    def _note_crops(self, sizes: list[tuple[int, int]]) -> None:
        cropped = [hr for (hr, _), size in zip(self.source, sizes) if modded(size, self.mod) != size]
        if cropped:
            log.info(
                "%d of %d HR images (e.g. %s) are not multiples of %d: cropped at the bottom/right (BasicSR mod_crop)",
                len(cropped),
                len(sizes),
                cropped[0],
                self.mod,
            )

    # ------------------------------------------------------------------------------------------------ items
    def __len__(self) -> int:
        """Return the number of HR images."""
        return len(self.source)

    @property
    def epoch(self) -> int:
        """Return the current epoch (from the shared counter, 0 without one)."""
        return 0 if self.epoch_counter is None else self.epoch_counter.value

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray | None, str, str]:
        """Return ``(HR, pre-made LR or None, A path, B path)``; HR cropped to a multiple of the mod."""
        if isinstance(self.source, SyntheticHR):
            hr, path = convert_channels(self.source[index], self.channels), self.source.path(index)
            return hr, None, path, path
        hr_path, lr_path = self.source[index]
        if self.cache is not None and index in self.cache:
            hr, lr = self.cache[index]
        else:
            hr = load_image(hr_path, self.channels, self.hint)
            lr = None if lr_path is None else load_image(lr_path, self.channels, self.hint)
            if self.cache is not None:
                self.cache[index] = (hr, lr)
        return hr, lr, str(lr_path or hr_path), str(hr_path)

    def __getitem__(self, index: int) -> dict[str, Tensor | str]:
        """Return item ``index``: ``{"A": LR, "B": HR, "A_path", "B_path"}`` (class docstring)."""
        hr, lr, a_path, b_path = self._load(index)
        width, height = modded((hr.shape[1], hr.shape[0]), self.mod)
        hr = hr[:height, :width]
        if self.gt_size is None:
            lr = self.reduce(hr, self.scale) if lr is None else lr
        else:
            rng = np.random.default_rng(sample_seed(self.seed, self.epoch, index))
            lr, hr = self._random_patch(hr, lr, rng)
            lr, hr = self._augment(lr, hr, rng)
        return {"A": to_tensor(lr), "B": to_tensor(hr), "A_path": a_path, "B_path": b_path}

    def _random_patch(
        self, hr: np.ndarray, lr: np.ndarray | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return an aligned ``(LR patch, HR patch)`` at a random position of the LR grid."""
        s, size = self.scale, self.gt_size // self.scale  # type: ignore[operator]
        rows, cols = hr.shape[0] // s, hr.shape[1] // s
        top, left = int(rng.integers(0, rows - size + 1)), int(rng.integers(0, cols - size + 1))
        hr_patch = hr[top * s : (top + size) * s, left * s : (left + size) * s]
        if lr is not None:
            return lr[top : top + size, left : left + size], hr_patch
        # Reduce the region under the patch with CONTEXT LR pixels around it: equal to the patch of the whole LR.
        t0, l0 = max(0, top - CONTEXT), max(0, left - CONTEXT)
        t1, l1 = min(rows, top + size + CONTEXT), min(cols, left + size + CONTEXT)
        region = self.reduce(hr[t0 * s : t1 * s, l0 * s : l1 * s], s)
        return region[top - t0 : top - t0 + size, left - l0 : left - l0 + size], hr_patch

    def _augment(self, lr: np.ndarray, hr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """BasicSR ``augment``: horizontal flip, vertical flip, transpose, each with p = 1/2, on both patches."""
        hflip, vflip, transpose = (rng.random(3) < 0.5).tolist()
        if self.flip and hflip:
            lr, hr = lr[:, ::-1], hr[:, ::-1]
        if self.rotate and vflip:
            lr, hr = lr[::-1], hr[::-1]
        if self.rotate and transpose:
            lr, hr = lr.transpose(1, 0, 2), hr.transpose(1, 0, 2)
        return lr, hr


def check_sr_sizes(scale: int, gt_size: int | None, mod_crop: int | None) -> None:
    """Raise an InputError naming the option unless scale >= 1, gt_size and mod_crop are multiples of scale."""
    if scale < 1:
        raise InputError(f"--data.scale must be >= 1, got {scale}")
    if gt_size is not None and (gt_size < scale or gt_size % scale):
        raise InputError(f"--data.gt_size ({gt_size}) must be a positive multiple of --data.scale ({scale})")
    if mod_crop is not None and (mod_crop < scale or mod_crop % scale):
        raise InputError(f"--data.mod_crop ({mod_crop}) must be a multiple of --data.scale ({scale}), e.g. 12")


__all__ = ["CONTEXT", "SRDataset", "check_sr_sizes", "image_size", "image_sizes", "modded", "to_tensor"]
