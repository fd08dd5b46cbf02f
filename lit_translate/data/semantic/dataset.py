"""Label-map datasets: class-id maps read by value (palette index), SPADE's preprocessing, one shared crop/flip.

A label map is read as its pixel values: a palette PNG (Pillow mode ``P``) by its palette *index*, never via
RGB. As the reference (NVlabs/SPADE ``pix2pix_dataset.py``), the value 255 becomes ``label_nc`` (dontcare),
and with ``zero_unlabelled`` (ADE20K) every id moves down by one and 0 (unlabelled) becomes ``label_nc``. The
photo is resized with Pillow's bicubic filter, label and instance maps with nearest neighbour, to the size of
``preprocess_mode``; then one albumentations crop/flip, seeded per sample, is applied to all three.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal

import albumentations as A
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from lit_translate.data.io import (
    _READ_ERRORS,
    SKIP_HINT,
    _strict_truncation,
    convert_channels,
    load_image,
    read_problem,
)
from lit_translate.data.sampling import SharedEpoch, sample_seed
from lit_translate.data.semantic.layouts import Triple
from lit_translate.data.synthetic import LABEL_COLOURS, SyntheticPairs, random_layout
from lit_translate.data.transforms import INTERPOLATIONS, apply_transform, to_tensor
from lit_translate.errors import InputError

PreprocessMode = Literal["resize_and_crop", "scale_width_and_crop", "fixed", "none"]
PREPROCESS_MODES: tuple[str, ...] = ("resize_and_crop", "scale_width_and_crop", "fixed", "none")
LABEL_MODES = frozenset({"1", "L", "P", "I", "I;16", "I;16L", "I;16B", "I;16N"})
"""Pillow modes read as ids (one value per pixel); RGB label maps must be converted to ids first."""
SYNTHETIC_LABEL_NC = len(LABEL_COLOURS)
"""Classes of the built-in synthetic label maps: background (0) and the four shape classes."""
_POWER_BASE = 32
LABEL_MODE_FIX = (
    "a label map holds one class id per pixel (grayscale or palette PNG); convert a colour-coded map to ids"
)


def read_ids(path: str | Path, hint: str = "") -> np.ndarray:
    """Read a label or instance map as its raw pixel values: int32 ``(H, W)`` (palette PNGs: the index).

    Raises:
        InputError: The file cannot be decoded, or it is not single-channel (the message names it and the fix).
    """
    try:
        with _strict_truncation, Image.open(path) as img:
            img.load()
            if img.mode not in LABEL_MODES:
                raise InputError(f"label map {path} is {img.mode}, not class ids: {LABEL_MODE_FIX}")
            return np.asarray(img).astype(np.int32)
    except _READ_ERRORS as err:
        if isinstance(err, InputError):
            raise
        raise InputError(
            f"cannot read label map {path}: {read_problem(path, err)}. Remove or replace it{hint}"
        ) from err


def map_ids(ids: np.ndarray, label_nc: int, zero_unlabelled: bool) -> np.ndarray:
    """Apply the reference's id mapping: 255 -> ``label_nc``; with ``zero_unlabelled`` then id - 1, -1 -> ``label_nc``.

    Works on a map or on an array of distinct values (the set-up scan's check).
    """
    out = np.where(ids == 255, label_nc, ids)
    if zero_unlabelled:
        out = out - 1
        out = np.where(out == -1, label_nc, out)
    return out.astype(np.int32)


class SemanticTransform:
    """SPADE's preprocessing (``data/base_dataset.py``) of a photo, its label map and its instance map.

    Training: resize as ``preprocess_mode`` says (photo bicubic, maps nearest; Pillow), random crop to
    ``crop_size`` (``*_and_crop`` modes), horizontal flip unless ``no_flip``; the crop and flip are drawn once
    (albumentations, reseeded per sample) and applied to all three. Evaluation: ``load_size`` is taken as
    ``crop_size`` (the reference's test options) and a crop is a centre crop; no flip.

    Args:
        preprocess_mode: ``resize_and_crop`` (square ``load_size``), ``scale_width_and_crop`` (width
            ``load_size``, aspect kept), ``fixed`` (``crop_size`` x ``round(crop_size / aspect_ratio)``, no crop)
            or ``none`` (sides rounded to multiples of 32, no crop).
        load_size: Resize size (training).
        crop_size: Crop size; ``fixed``: the width.
        aspect_ratio: Width / height of ``fixed``.
        flip: Random horizontal flip in training.
        train: Training (random) or evaluation (deterministic) pipeline.
    """

    def __init__(
        self, preprocess_mode: str, load_size: int, crop_size: int, aspect_ratio: float, flip: bool, train: bool
    ) -> None:
        if min(load_size, crop_size) <= 0 or aspect_ratio <= 0:
            raise InputError(
                f"load_size, crop_size and aspect_ratio must be positive, got {load_size}, {crop_size}, {aspect_ratio}"
            )
        self.crops = preprocess_mode.endswith("_and_crop")
        if self.crops and crop_size > load_size:
            raise InputError(
                f"crop_size ({crop_size}) is larger than load_size ({load_size}); set crop_size <= load_size"
            )
        self.mode, self.crop_size, self.aspect_ratio = preprocess_mode, crop_size, aspect_ratio
        self.load_size = load_size if train else crop_size
        steps: list[A.BasicTransform] = []
        if self.crops:
            crop = A.RandomCrop if train else A.CenterCrop
            steps.append(crop(crop_size, crop_size))
        if flip and train:
            steps.append(A.HorizontalFlip(p=0.5))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            self.augment = A.Compose(steps, additional_targets={"label": "mask", "instance": "mask"}, strict=True)

    def resized(self, width: int, height: int) -> tuple[int, int]:
        """Return the size ``(width, height)`` an image of this size is resized to."""
        if self.mode == "resize_and_crop":
            return self.load_size, self.load_size
        if self.mode == "scale_width_and_crop":
            return self.load_size, self.load_size * height // width
        if self.mode == "fixed":
            return self.crop_size, round(self.crop_size / self.aspect_ratio)
        return max(_POWER_BASE, round(width / _POWER_BASE) * _POWER_BASE), max(
            _POWER_BASE, round(height / _POWER_BASE) * _POWER_BASE
        )

    def size_problem(self, width: int, height: int) -> str | None:
        """Say why an image of this size cannot be cropped, or None."""
        new_w, new_h = self.resized(width, height)
        if self.crops and min(new_w, new_h) < self.crop_size:
            return (
                f"{width}x{height} is {new_w}x{new_h} after --data.init_args.preprocess_mode {self.mode}, smaller "
                f"than the {self.crop_size}x{self.crop_size} crop; lower crop_size or use resize_and_crop"
            )
        return None

    def set_random_seed(self, seed: int | None) -> None:
        """Reseed the crop/flip (see ``lit_translate.data.sampling.sample_seed``)."""
        self.augment.set_random_seed(seed)

    def __call__(self, image: np.ndarray | None, label: np.ndarray, instance: np.ndarray | None) -> dict[str, Any]:
        """Resize, crop and flip the three together; return ``image`` in [-1, 1], ``label``/``instance`` int64.

        ``image`` None (predict: a label map alone) returns no ``image``.
        """
        size = self.resized(label.shape[1], label.shape[0])
        maps = {"label": label} if instance is None else {"label": label, "instance": instance}
        photo = np.zeros((*label.shape, 1), np.uint8) if image is None else image
        inputs = {"image": _resize(photo, size, INTERPOLATIONS["bicubic"])}
        inputs |= {key: _resize(value, size, Image.Resampling.NEAREST) for key, value in maps.items()}
        out = self.augment(**inputs)
        result = {} if image is None else {"image": to_tensor(out["image"])}
        for key in maps:
            result[key] = torch.from_numpy(np.ascontiguousarray(out[key], dtype=np.int64))[None]
        return result


def _resize(array: np.ndarray, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    """Resize a uint8 image or an int32 map to ``size`` (width, height) with Pillow (unchanged if it has that size)."""
    if (array.shape[1], array.shape[0]) == size:
        return array
    squeeze = array.ndim == 3 and array.shape[2] == 1
    out = np.asarray(Image.fromarray(array[:, :, 0] if squeeze else array).resize(size, resample))
    return out[:, :, None] if squeeze else out


class _SemanticBase(Dataset):
    """Shared ``__getitem__``: load, seed the transform per (seed, epoch, index), return the batch dict."""

    def __init__(
        self, transform: SemanticTransform, channels: int, seed: int, epoch_counter: SharedEpoch | None
    ) -> None:
        self.transform, self.channels = transform, channels
        self.seed, self.epoch_counter = seed, epoch_counter

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str, str]:
        """Return ``(photo uint8, label ids, instance ids or None, label path, photo path)`` of item ``index``."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Return ``{"A": int64 (1, H, W) ids, "B": float32 (C, H, W), "A_path", "B_path"[, "A_instance"]}``."""
        photo, label, instance, label_path, photo_path = self._load(index)
        if photo.shape[:2] != label.shape or (instance is not None and instance.shape != label.shape):
            raise InputError(
                f"label map {label_path} ({label.shape[1]}x{label.shape[0]}) and photo {photo_path} "
                f"({photo.shape[1]}x{photo.shape[0]}) (or their instance map) differ in size; they must match"
            )
        epoch = 0 if self.epoch_counter is None else self.epoch_counter.value
        self.transform.set_random_seed(sample_seed(self.seed, epoch, index))
        out = apply_transform(
            self.transform, f"{label_path} and {photo_path}", image=photo, label=label, instance=instance
        )
        item = {"A": out["label"], "B": out["image"], "A_path": label_path, "B_path": photo_path}
        if instance is not None:
            item["A_instance"] = out["instance"]
        return item


class SemanticDataset(_SemanticBase):
    """Label maps, photos and optional instance maps from disk (see ``semantic_layouts`` for the listings).

    Args:
        items: ``(label, photo, instance or None)`` files per item.
        transform: The :class:`SemanticTransform`.
        label_nc: Number of classes (255 -> ``label_nc``, see :func:`map_ids`).
        zero_unlabelled: ADE20K's id shift.
        channels: Photo channels, 1 or 3. Default 3.
        seed: Augmentation seed. Default 0.
        epoch_counter: Shared epoch (training). Default None.
    """

    def __init__(
        self,
        items: list[Triple],
        transform: SemanticTransform,
        label_nc: int,
        zero_unlabelled: bool,
        channels: int = 3,
        seed: int = 0,
        epoch_counter: SharedEpoch | None = None,
    ) -> None:
        super().__init__(transform, channels, seed, epoch_counter)
        self.items, self.label_nc, self.zero_unlabelled = items, label_nc, zero_unlabelled
        self.skipped: list[tuple[Path, str]] = []

    def keep(self, indices: list[int], skipped: list[tuple[Path, str]]) -> None:
        """Keep only the items ``indices`` (``skip_unreadable``)."""
        self.items = [self.items[i] for i in indices]
        self.skipped = skipped

    def __len__(self) -> int:
        """Return the number of items."""
        return len(self.items)

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str, str]:
        """Read item ``index``'s files (label ids mapped as the reference does)."""
        label_path, photo_path, inst_path = self.items[index]
        label = map_ids(read_ids(label_path, SKIP_HINT), self.label_nc, self.zero_unlabelled)
        instance = None if inst_path is None else read_ids(inst_path, SKIP_HINT)
        photo = load_image(photo_path, self.channels, SKIP_HINT)
        return photo, label, instance, str(label_path), str(photo_path)


class SyntheticLabelMaps(SyntheticPairs):
    """``SyntheticPairs`` as class ids: item ``i`` is ``(label ids, instance ids, photo)`` of the same layout.

    The label map holds the class of each shape (0 background, 1-4), the instance map a number per shape
    (0 background), the photo is ``SyntheticPairs``' rendering (``SyntheticPairs(...)[i][1]``).
    """

    def maps(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return uint8 ``(canvas, canvas)`` ids, int32 instance ids and the uint8 ``(canvas, canvas, 3)`` photo."""
        self.check_index(index)
        shapes = random_layout(self.generator(0, index), self.canvas, len(LABEL_COLOURS) - 1)
        ids = np.zeros((self.canvas, self.canvas), np.int32)
        instances = np.zeros((self.canvas, self.canvas), np.int32)
        for number, shape in enumerate(shapes, start=1):
            mask = shape.mask(self.canvas)
            ids[mask], instances[mask] = shape.label, number
        return ids, instances, self.render(shapes)


class SyntheticSemanticDataset(_SemanticBase):
    """The built-in label-map task (:class:`SyntheticLabelMaps`) through the same code path."""

    def __init__(
        self,
        synthetic: SyntheticLabelMaps,
        transform: SemanticTransform,
        instance: bool = True,
        channels: int = 3,
        seed: int = 0,
        epoch_counter: SharedEpoch | None = None,
    ) -> None:
        super().__init__(transform, channels, seed, epoch_counter)
        self.synthetic, self.instance = synthetic, instance

    def __len__(self) -> int:
        """Return the number of items."""
        return len(self.synthetic)

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str, str]:
        """Generate item ``index``."""
        ids, instances, photo = self.synthetic.maps(index)
        photo = convert_channels(photo, self.channels)
        path = self.synthetic.path(index)
        return photo, ids, instances if self.instance else None, path, path


__all__ = [
    "LABEL_MODES",
    "PREPROCESS_MODES",
    "SYNTHETIC_LABEL_NC",
    "PreprocessMode",
    "SemanticDataset",
    "SemanticTransform",
    "SyntheticLabelMaps",
    "SyntheticSemanticDataset",
    "map_ids",
    "read_ids",
]
