"""albumentations pipelines (paired and single-image) and the [-1, 1] normalisation.

Pipelines are built with warnings turned into errors, so an argument that albumentations 2.0.8 ignores
(e.g. a 1.x keyword) fails at construction instead of silently changing the augmentation.
"""

from __future__ import annotations

import warnings

import albumentations as A
import numpy as np
import torch
from albumentations.augmentations.crops.transforms import CropSizeError
from albumentations.pytorch import ToTensorV2


def build_transform(
    load_size: int,
    crop_size: int,
    resize: bool,
    crop: bool,
    flip: bool,
    train: bool,
    paired: bool,
) -> A.Compose:
    """Build the augmentation + normalisation pipeline of the pix2pix/CycleGAN recipes.

    Training: ``Resize(load_size)`` if ``resize``, ``RandomCrop(crop_size)`` if ``crop``,
    ``HorizontalFlip(p=0.5)`` if ``flip``. Evaluation (``train=False``) is deterministic: with ``crop`` it
    uses ``Resize(crop_size)`` when ``resize`` is on (the whole image at the training resolution, like the
    reference's test-time resize) and ``CenterCrop(crop_size)`` when it is off (the same pixel scale as the
    training crops); no flip. Every pipeline ends with ``Normalize(mean=0.5, std=0.5)`` on uint8 input and
    ``ToTensorV2``, giving float32 ``(C, H, W)`` tensors in [-1, 1] for 1- or 3-channel images.

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

    Returns:
        The albumentations ``Compose``.

    Raises:
        ValueError: A size is not positive, or ``crop_size > load_size`` with both resize and crop on.
    """
    _check_sizes(load_size, crop_size, resize, crop)
    steps: list[A.BasicTransform] = []
    if resize and not (crop and not train):
        steps.append(A.Resize(load_size, load_size))
    if crop:
        steps.append(_crop_step(crop_size, resize, train))
    if flip and train:
        steps.append(A.HorizontalFlip(p=0.5))
    steps += [A.Normalize(mean=0.5, std=0.5, max_pixel_value=255.0), ToTensorV2()]
    extra = {"target": "image"} if paired else None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return A.Compose(steps, additional_targets=extra, strict=True)


def _crop_step(crop_size: int, resize: bool, train: bool) -> A.BasicTransform:
    """Return the crop stage: random crop for training, resize or center crop for evaluation."""
    if train:
        return A.RandomCrop(crop_size, crop_size)
    if resize:
        return A.Resize(crop_size, crop_size)
    return A.CenterCrop(crop_size, crop_size)


def _check_sizes(load_size: int, crop_size: int, resize: bool, crop: bool) -> None:
    """Validate the size options that the pipeline will use."""
    if resize and load_size <= 0:
        raise ValueError(f"load_size must be positive when resize is on, got {load_size}")
    if crop and crop_size <= 0:
        raise ValueError(f"crop_size must be positive when crop is on, got {crop_size}")
    if resize and crop and crop_size > load_size:
        raise ValueError(
            f"crop_size ({crop_size}) is larger than load_size ({load_size}); set crop_size <= load_size, "
            f"or turn resize off to crop from the original image"
        )


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    """Map a tensor in [-1, 1] back to uint8 [0, 255] (the inverse of the pipeline's normalisation).

    Args:
        image: Float tensor of any shape, values in [-1, 1] (values outside are clamped).

    Returns:
        uint8 tensor of the same shape; a uint8 image normalised by ``build_transform`` round-trips exactly.
    """
    return ((image.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


def apply_transform(transform: A.Compose, paths: str, **images: np.ndarray) -> dict[str, torch.Tensor]:
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
        raise ValueError(
            f"cannot transform {paths}: {err}. Check --data.load_size/crop_size/resize/crop against the image size"
        ) from err
