"""Augmentation pipelines (paired and single-image): Pillow resize, albumentations crop/flip, [-1, 1].

The resize is Pillow's, as in the reference (junyanz ``data/base_dataset.py``: ``transforms.Resize([s, s],
BICUBIC)`` on PIL images), so our resized arrays equal the reference's bit for bit (``benchmarks/resize_parity.py``);
OpenCV's resize (albumentations' ``A.Resize``) differs: bilinear by default, and its cubic does not antialias when
shrinking. The random crop and flip that follow are albumentations' and are shared by both images of a pair.
albumentations pipelines are built with warnings turned into errors, so an argument that albumentations 2.0.8
ignores (e.g. a 1.x keyword) fails at construction instead of silently changing the augmentation.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import albumentations as A
import numpy as np
import torch
from albumentations.augmentations.crops.transforms import CropSizeError
from PIL import Image

from lit_translate.choices import resolve_choice
from lit_translate.errors import InputError

Interpolation = Literal["bicubic", "bilinear", "lanczos", "box", "nearest"]
"""Resize filters (Pillow's); ``"bicubic"`` is the reference's."""
INTERPOLATIONS: dict[str, Image.Resampling] = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "nearest": Image.Resampling.NEAREST,
}


class Pipeline:
    """Resize every image to ``size`` x ``size`` with Pillow, then apply one albumentations ``Compose``.

    Called like the ``Compose`` (``tf(image=a)``, ``tf(image=a, target=b)``) and reseeded the same way
    (:meth:`set_random_seed`). The images of a call may differ in size when ``size`` is set: each is resized on
    its own (as the reference resizes A and B), then the crop and flip parameters are drawn once for all.

    Args:
        size: Square side to resize to, or None for no resize.
        interpolation: Key of ``INTERPOLATIONS``. Default ``"bicubic"``.
        augment: The crop/flip ``Compose`` (uint8 in, uint8 out; :func:`to_tensor` follows it).
    """

    def __init__(self, size: int | None, interpolation: str, augment: A.Compose) -> None:
        self.size = size
        self.interpolation = interpolation
        self.resample = resolve_choice("interpolation", interpolation, INTERPOLATIONS)
        self.augment = augment

    def set_random_seed(self, seed: int | None) -> None:
        """Reseed the albumentations part (see ``lit_translate.data.sampling.sample_seed``)."""
        self.augment.set_random_seed(seed)

    def resize(self, image: np.ndarray) -> np.ndarray:
        """Resize a uint8 ``(H, W[, C])`` array to ``(size, size[, C])`` (unchanged when ``size`` is None)."""
        if self.size is None:
            return image
        squeeze = image.ndim == 3 and image.shape[2] == 1
        pil = Image.fromarray(image[:, :, 0] if squeeze else image)
        out = np.asarray(pil.resize((self.size, self.size), self.resample))
        return out[:, :, None] if squeeze else out

    def __call__(self, **images: np.ndarray) -> dict[str, Any]:
        """Resize each image, run the shared crop/flip on all of them, then map each to [-1, 1] (``to_tensor``)."""
        out = self.augment(**{key: self.resize(image) for key, image in images.items()})
        return {key: to_tensor(value) if key in images else value for key, value in out.items()}


def build_transform(
    load_size: int,
    crop_size: int,
    resize: bool,
    crop: bool,
    flip: bool,
    train: bool,
    paired: bool,
    interpolation: Interpolation = "bicubic",
) -> Pipeline:
    """Build the augmentation + normalisation pipeline of the pix2pix/CycleGAN recipes.

    Training: resize to ``load_size`` x ``load_size`` if ``resize`` (Pillow, ``interpolation``; each image of
    a pair on its own), ``RandomCrop(crop_size)`` if ``crop``, ``HorizontalFlip(p=0.5)`` if ``flip``. Evaluation
    (``train=False``) is deterministic: with ``crop`` it resizes to ``crop_size`` when ``resize`` is on (the
    whole image at the training resolution, like the reference's test-time resize) and ``CenterCrop(crop_size)``
    when it is off (the same pixel scale as the training crops); no flip. Every pipeline ends with
    :func:`to_tensor` (the one uint8 -> [-1, 1] mapping of the package), giving float32 ``(C, H, W)`` tensors
    in [-1, 1] for 1- or 3-channel images.

    Call it as ``tf(image=a, target=b)`` when ``paired`` (the same random parameters are applied to both
    images; ``strict=True`` rejects unknown keys) and ``tf(image=a)`` otherwise. Reseed it per sample with
    ``tf.set_random_seed(...)`` (see ``lit_translate.data.sampling.sample_seed``).

    Args:
        load_size: Square size the images are resized to first (used when ``resize``).
        crop_size: Square size of the crop (used when ``crop``).
        resize: Resize to ``load_size`` x ``load_size`` first.
        crop: Random-crop (training) or resize/center-crop (evaluation) to ``crop_size``.
        flip: Random horizontal flip with p=0.5 (training only).
        train: Training pipeline (random) or evaluation pipeline (deterministic).
        paired: Add the ``target`` image key that receives the identical transform.
        interpolation: Resize filter, a key of ``INTERPOLATIONS``. Default ``"bicubic"`` (the reference's).

    Returns:
        The :class:`Pipeline`.

    Raises:
        InputError: A size is not positive, ``crop_size > load_size`` with both resize and crop on, or an
            unknown ``interpolation``.
    """
    _check_sizes(load_size, crop_size, resize, crop)
    size = None if not resize else crop_size if crop and not train else load_size
    steps: list[A.BasicTransform] = []
    if crop and (train or not resize):
        steps.append(A.RandomCrop(crop_size, crop_size) if train else A.CenterCrop(crop_size, crop_size))
    if flip and train:
        steps.append(A.HorizontalFlip(p=0.5))
    extra = {"target": "image"} if paired else None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        augment = A.Compose(steps, additional_targets=extra, strict=True)
    return Pipeline(size, interpolation, augment)


def _check_sizes(load_size: int, crop_size: int, resize: bool, crop: bool) -> None:
    """Validate the size options that the pipeline will use."""
    if resize and load_size <= 0:
        raise InputError(f"load_size must be positive when resize is on, got {load_size}")
    if crop and crop_size <= 0:
        raise InputError(f"crop_size must be positive when crop is on, got {crop_size}")
    if resize and crop and crop_size > load_size:
        raise InputError(
            f"crop_size ({crop_size}) is larger than load_size ({load_size}); set crop_size <= load_size, "
            f"or turn resize off to crop from the original image"
        )


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """Map a uint8 image to a float32 ``(C, H, W)`` tensor in [-1, 1]: the package's one normalisation.

    ``(x - 127.5) * (1 / 127.5)`` in float32, bit for bit albumentations' ``Normalize(mean=0.5, std=0.5)`` +
    ``ToTensorV2`` (which the pix2pix, CycleGAN, StarGAN and predict pipelines used before); every dataset
    (paired, unpaired, SR, content images, domains, predict folders) and the style image go through it.
    :func:`to_uint8` is its inverse (exact round trip).

    Args:
        image: uint8 ``(H, W, C)`` (any C) or ``(H, W)`` (one channel).

    Returns:
        float32 ``(C, H, W)``.
    """
    array = image[:, :, None] if image.ndim == 2 else image
    if not array.flags.writeable or min(array.strides) < 0:  # a PIL image's array is read-only; flips are views
        array = array.copy()
    return (torch.from_numpy(array).permute(2, 0, 1).float() - 127.5) * (1 / 127.5)


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    """Map a tensor in [-1, 1] back to uint8 [0, 255] (the inverse of the pipeline's normalisation).

    Args:
        image: Float tensor of any shape, values in [-1, 1] (values outside are clamped).

    Returns:
        uint8 tensor of the same shape; a uint8 image mapped by :func:`to_tensor` round-trips exactly.
    """
    return ((image.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


def apply_transform(transform: Pipeline | A.Compose, paths: str, **images: np.ndarray) -> dict[str, torch.Tensor]:
    """Run a pipeline, re-raising size errors with the file names and the options to check.

    Args:
        transform: The (already seeded) pipeline.
        paths: The source file(s), for the message.
        **images: The pipeline's inputs (``image=...``, optionally ``target=...``).

    Returns:
        The pipeline's output dict.
    """
    try:
        return transform(**images)
    except (ValueError, CropSizeError) as err:
        raise InputError(
            f"cannot transform {paths}: {err}. Check --data.load_size/crop_size/resize/crop against the image size"
        ) from err
