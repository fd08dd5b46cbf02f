"""Image files: discovery, loading with clear errors, and saving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lit_translate.data.transforms import to_uint8

IMG_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
"""File extensions accepted as images (compared case-insensitively)."""

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_READ_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def is_image_file(path: str | Path) -> bool:
    """Tell whether a file name has one of the accepted image extensions.

    Args:
        path: File name or path; only its suffix is looked at (case-insensitive).

    Returns:
        True when the suffix is in ``IMG_EXTENSIONS``.
    """
    return Path(path).suffix.lower() in IMG_EXTENSIONS


def find_images(folder: str | Path, option: str = "--data.root", expected: str = "the dataset") -> list[Path]:
    """List the image files directly inside a folder (not recursive), sorted by name.

    Args:
        folder: The folder to list.
        option: The command-line option to name in the error for a missing folder. Default ``"--data.root"``.
        expected: What that option should point at, for the same error. Default ``"the dataset"``.

    Returns:
        The image paths (extensions in ``IMG_EXTENSIONS``), sorted.

    Raises:
        FileNotFoundError: The folder does not exist or is not a directory.
        ValueError: The folder holds no image files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"image folder {folder} does not exist (or is not a directory); pass {option} DIR pointing at "
            f"{expected}"
        )
    paths = sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))
    if not paths:
        raise ValueError(
            f"image folder {folder} contains no images; accepted extensions (any case): "
            f"{', '.join(IMG_EXTENSIONS)}"
        )
    return paths


def load_image(path: str | Path, channels: int) -> np.ndarray:
    """Read an image file into a uint8 array with the requested number of channels.

    Grayscale, palette, RGBA (alpha dropped, as in the reference ``convert("RGB")``), CMYK and 16-bit
    grayscale (``"I;16"``/``"I"``, scaled to 8 bits by ``>> 8``) are all converted.

    Args:
        path: The image file.
        channels: 1 (grayscale) or 3 (RGB).

    Returns:
        uint8 array of shape ``(H, W, channels)`` in [0, 255].

    Raises:
        ValueError: ``channels`` is not 1 or 3, or the file cannot be decoded (missing, truncated, not an
            image, or an unsupported pixel format); the message names the file.
    """
    check_channels(channels, "channels")
    try:
        with Image.open(path) as img:
            img.load()
            array = _pil_to_array(img, channels)
    except _READ_ERRORS as err:
        raise ValueError(
            f"cannot read image {path}: {err}. Remove or replace the file (it may be truncated, corrupt or "
            f"not an image)"
        ) from err
    return array


def _pil_to_array(img: Image.Image, channels: int) -> np.ndarray:
    """Convert a loaded PIL image to a uint8 ``(H, W, channels)`` array."""
    if img.mode in _SIXTEEN_BIT_MODES:
        wide = np.asarray(img, dtype=np.int64)
        if wide.min() < 0 or wide.max() > 65535:
            raise ValueError(f"integer pixel values outside the 16-bit range 0..65535 (mode {img.mode})")
        img = Image.fromarray((wide >> 8).astype(np.uint8), mode="L")
    elif img.mode == "F":
        raise ValueError("floating-point images (mode F) are not supported; save it as 8- or 16-bit")
    return convert_channels(np.asarray(img.convert("RGB" if channels == 3 else "L")), channels)


def convert_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """Convert a uint8 image array to 1 (luma, ITU-R 601 as in PIL) or 3 channels.

    Args:
        image: uint8 array ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``.
        channels: 1 or 3.

    Returns:
        uint8 array ``(H, W, channels)``.

    Raises:
        ValueError: ``channels`` is not 1 or 3, or the array is not a uint8 image of a supported shape.
    """
    check_channels(channels, "channels")
    bad_channels = image.ndim == 3 and image.shape[2] not in (1, 3)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or bad_channels:
        raise ValueError(f"expected a uint8 (H, W[, 1|3]) image array, got {image.dtype} {image.shape}")
    if image.ndim == 3 and image.shape[2] == channels:
        return np.ascontiguousarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], channels, axis=2))
    return np.asarray(Image.fromarray(image).convert("L"))[:, :, None]


def save_image(image: torch.Tensor, path: str | Path) -> None:
    """Write a ``(C, H, W)`` tensor in [-1, 1] as a PNG file (parent folders are created).

    Args:
        image: Float tensor ``(C, H, W)`` with C = 1 or 3 and values in [-1, 1] (clamped).
        path: Target file; written in PNG format whatever its suffix.

    Raises:
        ValueError: The tensor is not ``(1|3, H, W)``.
    """
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"save_image({path}) needs a (C, H, W) tensor, C = 1 or 3; got {tuple(image.shape)}")
    array = to_uint8(image.detach().cpu()).permute(1, 2, 0).numpy()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(path, format="PNG")


def check_channels(channels: int, key: str) -> None:
    """Raise a ValueError naming ``key`` unless ``channels`` is 1 or 3.

    Args:
        channels: The configured number of channels.
        key: The option name for the message, e.g. ``"input_channels"``.
    """
    if channels not in (1, 3):
        raise ValueError(f"{key} must be 1 or 3, got {channels!r}")
